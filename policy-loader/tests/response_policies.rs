//! Response policies judged by the real loader, scanner and evaluator:
//! status and header tests, block decisions, masking (Luhn-checked for card
//! numbers), monitor mode, and the separation from request policies.

mod common;

use common::{hits, request, run, Fixture};
use rampart_policy_loader::{DryFacts, DryRunner, RawResponse};

const SIGS: &str = r#"
    [[signature]]
    id = "leak.pan"
    pattern = '\b4[0-9]{3}(?:[ -]?[0-9]{4}){3}\b'
    fields = ["response.body"]
    tags = ["luhn"]

    [[signature]]
    id = "leak.trace"
    literal = "Traceback (most recent call last)"
    fields = ["response.body"]

    [[signature]]
    id = "req.sqli"
    pattern = 'union\s+select'
    fields = ["@values"]
    transforms = ["plus_to_space"]
"#;

const POLICIES: &str = r#"
    [[policy]]
    id = "R-PAN"
    name = "mask card numbers"
    severity = "high"
    phase = "response"
    condition = { signature = "leak.pan" }
    action = "mask"

    [[policy]]
    id = "R-TRACE"
    name = "block stack traces in 5xx JSON"
    severity = "medium"
    phase = "response"
    condition = { all = [{ response_status = "5xx" }, { response_header = "content-type", contains = "json" }, { signature = "leak.trace" }] }
    action = "block"

    [[policy]]
    id = "Q-SQLI"
    name = "request sqli"
    severity = "high"
    condition = { signature = "req.sqli" }
    action = "block"
"#;

fn fixture(overlay: Option<&str>) -> Fixture {
    let f = Fixture::new();
    f.pack(
        "p1",
        &[("signatures/s.toml", SIGS), ("policies/p.toml", POLICIES)],
    );
    if let Some(o) = overlay {
        f.file("overlay.toml", o);
    }
    f
}

fn response(text: &str) -> RawResponse {
    RawResponse::parse(text.as_bytes()).expect("response parses")
}

#[test]
fn card_numbers_are_masked_with_the_same_length_and_luhn_checked() {
    let f = fixture(None);
    let p = f.policy(&["p1"], None);
    let mut r = DryRunner::new(&p).expect("runner");
    let resp = response("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{\"card\":\"4111 1111 1111 1111\",\"order\":\"4111111111111112\"}");
    let (run, masked) = r.run_response(&resp, false).expect("run");
    assert_eq!(run.verdict.decision, None, "mask does not decide");
    assert_eq!(masked.len(), resp.body.len());
    assert_eq!(
        String::from_utf8_lossy(&masked),
        "{\"card\":\"*******************\",\"order\":\"4111111111111112\"}",
        "the Luhn-valid number is masked, the other is not"
    );
}

#[test]
fn status_and_header_conditions_gate_a_block() {
    let f = fixture(None);
    let p = f.policy(&["p1"], None);
    let mut r = DryRunner::new(&p).expect("runner");
    let trace = "{\"error\":\"Traceback (most recent call last): File x\"}";
    let block = |r: &mut DryRunner<'_>, status: u16, ct: &str| {
        let resp = response(&format!(
            "HTTP/1.1 {status} X\r\nContent-Type: {ct}\r\n\r\n{trace}"
        ));
        r.run_response(&resp, false)
            .expect("run")
            .0
            .verdict
            .decision
            .map(|i| p.policies[i].id.clone())
    };
    assert_eq!(
        block(&mut r, 500, "application/json").as_deref(),
        Some("R-TRACE")
    );
    assert_eq!(block(&mut r, 200, "application/json"), None, "status gate");
    assert_eq!(block(&mut r, 503, "text/html"), None, "header gate");
}

#[test]
fn monitor_mode_logs_but_does_not_mask_and_phases_stay_apart() {
    let f = fixture(Some(
        "[[override]]\npolicy = \"R-PAN\"\nmode = \"monitor\"\n",
    ));
    let p = f.policy(&["p1"], Some("overlay.toml"));
    let mut r = DryRunner::new(&p).expect("runner");
    let resp = response("HTTP/1.1 200 OK\r\n\r\ncard 4111111111111111");
    let (dry, masked) = r.run_response(&resp, false).expect("run");
    assert_eq!(hits(&p, &dry), vec!["R-PAN(monitor)".to_string()]);
    assert_eq!(masked, resp.body, "monitor does not mask");
    // A request carrying the same text is not judged by response policies,
    // and a response is not judged by request policies.
    let q = request("POST / HTTP/1.1\nContent-Type: application/x-www-form-urlencoded\n\nq=4111111111111111+union+select");
    let judged = run(&p, &q, &DryFacts::default(), false);
    assert_eq!(hits(&p, &judged), vec!["Q-SQLI".to_string()]);
}
