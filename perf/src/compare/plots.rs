//! The report's SVG plots (plotters, SVG backend only):
//! - `throughput.svg`: req/s per setup, one bar per load, the ratio to
//!   HAProxy written at the end of each bar;
//! - `latency.svg`: each setup's latency percentile spectrum (p0 … p99.99)
//!   for the GET and the POST, log scale;
//! - `latency-vs-load.svg`: p50 and p99 against the offered rate (open loop)
//!   for Rampart with the default pack and HAProxy.

use anyhow::{anyhow, Result};
use plotters::backend::SVGBackend;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::results::Results;
use super::setups;
use super::stats::Row;
use super::writer::{ratio, thousands, title_of};

const FONT: &str = "sans-serif";

/// Colours that stay apart for up to ~10 series (Tableau 10).
const COLORS: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

fn color(i: usize) -> RGBColor {
    COLORS[i % COLORS.len()]
}

fn err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("plot: {e:?}")
}

fn name(id: &str) -> String {
    setups::setup(id)
        .map(|s| s.name.to_string())
        .unwrap_or_else(|| id.to_string())
}

/// Every plot the results allow: `(file name, SVG text)`.
pub fn all(res: &Results) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    if !res.rows.is_empty() {
        out.push(("throughput.svg".to_string(), throughput(&res.rows)?));
        out.push(("latency.svg".to_string(), latency(&res.rows)?));
    }
    if !res.latency_vs_load.is_empty() {
        out.push(("latency-vs-load.svg".to_string(), latency_vs_load(res)?));
    }
    Ok(out)
}

/// Horizontal grouped bars: one group per setup (table order), one bar per load.
pub fn throughput(rows: &[Row]) -> Result<String> {
    let mut setups_in_order: Vec<&str> = Vec::new();
    let mut loads_in_order: Vec<&str> = Vec::new();
    for r in rows {
        if !setups_in_order.contains(&r.setup.as_str()) {
            setups_in_order.push(&r.setup);
        }
        if !loads_in_order.contains(&r.load.as_str()) {
            loads_in_order.push(&r.load);
        }
    }
    let bar_h = 22.0;
    let bars = rows.len() as f64;
    let groups = setups_in_order.len() as f64;
    // Pixel height: the bars, a gap per group, title, axis and legend.
    let height = (bars * bar_h + groups * 14.0 + 190.0).max(320.0) as u32;
    let max = rows.iter().map(|r| r.rps).fold(0.0, f64::max).max(1.0);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (1100, height)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        // y runs from 0 at the bottom to `total` at the top, in bar units.
        let total = bars + groups * 0.6;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "Throughput per setup (closed loop, median of rounds; × = ratio to HAProxy)",
                (FONT, 20),
            )
            .margin(12)
            .x_label_area_size(45)
            .y_label_area_size(280)
            .build_cartesian_2d(0f64..max * 1.28, 0f64..total)
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .disable_y_axis()
            .y_labels(0)
            .x_desc("requests per second")
            .x_label_formatter(&|v| thousands(*v))
            .label_style((FONT, 13))
            .light_line_style(RGBAColor(0, 0, 0, 0.04))
            .draw()
            .map_err(err)?;
        let mut y = total;
        let label_style =
            TextStyle::from((FONT, 14).into_font()).pos(Pos::new(HPos::Right, VPos::Center));
        let value_style =
            TextStyle::from((FONT, 12).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
        let mut bars_by_load: Vec<Vec<Rectangle<(f64, f64)>>> =
            loads_in_order.iter().map(|_| Vec::new()).collect();
        let mut texts = Vec::new();
        for s in &setups_in_order {
            y -= 0.3;
            let group: Vec<&Row> = rows.iter().filter(|r| r.setup == *s).collect();
            let top = y;
            for r in &group {
                let li = loads_in_order
                    .iter()
                    .position(|l| *l == r.load)
                    .unwrap_or(0);
                let (y0, y1) = (y - 0.9, y - 0.1);
                bars_by_load[li].push(Rectangle::new([(0.0, y0), (r.rps, y1)], color(li).filled()));
                let v = format!("{} ({}×)", thousands(r.rps), ratio(r.vs_base));
                texts.push((v, chart.backend_coord(&(r.rps, (y0 + y1) / 2.0))));
                y -= 1.0;
            }
            let mid = (top + y) / 2.0;
            let (px, py) = chart.backend_coord(&(0.0, mid));
            root.draw(&Text::new(name(s), (px - 8, py), label_style.clone()))
                .map_err(err)?;
            y -= 0.3;
        }
        for (li, bars) in bars_by_load.into_iter().enumerate() {
            let c = color(li);
            chart
                .draw_series(bars)
                .map_err(err)?
                .label(title_of(loads_in_order[li]))
                .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], c.filled()));
        }
        for (v, (px, py)) in texts {
            root.draw(&Text::new(v, (px + 5, py), value_style.clone()))
                .map_err(err)?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .label_font((FONT, 13))
            .draw()
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// `-log10(1 - q/100)`: 90 % → 1, 99 % → 2, 99.9 % → 3 (HdrHistogram's axis).
pub fn nines(q: f64) -> f64 {
    -(1.0 - q / 100.0).max(1e-6).log10()
}

fn percentile_label(x: f64) -> String {
    if (x - x.round()).abs() > 1e-6 {
        return String::new();
    }
    match x.round() as i32 {
        0 => "p0".into(),
        1 => "p90".into(),
        2 => "p99".into(),
        3 => "p99.9".into(),
        4 => "p99.99".into(),
        n => format!("{n}"),
    }
}

fn spectrum_panel(area: &DrawingArea<SVGBackend, Shift>, rows: &[&Row], title: &str) -> Result<()> {
    let pts = |r: &Row| -> Vec<(f64, f64)> {
        r.distribution
            .iter()
            .filter(|(q, _)| *q < 100.0)
            .map(|(q, us)| (nines(*q), (*us as f64 / 1000.0).max(0.001)))
            .collect()
    };
    let all: Vec<f64> = rows.iter().flat_map(|r| pts(r)).map(|(_, y)| y).collect();
    let lo = all.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = all.iter().copied().fold(0.0, f64::max);
    let (lo, hi) = if all.is_empty() {
        (0.01, 10.0)
    } else {
        (lo / 1.5, hi * 1.5)
    };
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FONT, 18))
        .margin(12)
        .margin_right(30)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..4.0, (lo..hi).log_scale())
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_labels(5)
        .x_desc("percentile")
        .y_desc("latency, ms (log scale)")
        .x_label_formatter(&|x| percentile_label(*x))
        .y_label_formatter(&|y| ms_label(*y))
        .label_style((FONT, 13))
        .light_line_style(RGBAColor(0, 0, 0, 0.04))
        .draw()
        .map_err(err)?;
    for (i, r) in rows.iter().enumerate() {
        let c = color(i);
        chart
            .draw_series(LineSeries::new(pts(r), c.stroke_width(2)).point_size(2))
            .map_err(err)?
            .label(name(&r.setup))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(3)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.7))
        .border_style(BLACK)
        .label_font((FONT, 12))
        .draw()
        .map_err(err)?;
    Ok(())
}

/// Percentile spectra, one panel per plain-HTTP load (GET, POST).
pub fn latency(rows: &[Row]) -> Result<String> {
    let panels: Vec<(&str, Vec<&Row>)> = ["get", "post"]
        .iter()
        .map(|l| {
            (
                *l,
                rows.iter()
                    .filter(|r| r.load == *l && !r.distribution.is_empty())
                    .collect::<Vec<_>>(),
            )
        })
        .filter(|(_, v)| !v.is_empty())
        .collect();
    let mut svg = String::new();
    {
        let width = 700 * panels.len().max(1) as u32;
        let root = SVGBackend::with_string(&mut svg, (width, 620)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let root = root
            .titled(
                "Latency percentiles per setup (closed loop, 64 connections, median round)",
                (FONT, 20),
            )
            .map_err(err)?;
        let areas = root.split_evenly((1, panels.len().max(1)));
        for ((load, rs), area) in panels.iter().zip(areas.iter()) {
            spectrum_panel(area, rs, &title_of(load))?;
        }
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// p50 and p99 against the offered rate, for every setup in the sweep.
pub fn latency_vs_load(res: &Results) -> Result<String> {
    let pts = &res.latency_vs_load;
    let mut ids: Vec<&str> = Vec::new();
    for p in pts {
        if !ids.contains(&p.setup.as_str()) {
            ids.push(&p.setup);
        }
    }
    let xmax = pts
        .iter()
        .map(|p| p.offered_rps)
        .fold(0.0, f64::max)
        .max(1.0)
        * 1.05;
    let ys: Vec<f64> = pts
        .iter()
        .flat_map(|p| [p.p50_us, p.p99_us])
        .map(|v| (v / 1000.0).max(0.001))
        .collect();
    let lo = ys.iter().copied().fold(f64::INFINITY, f64::min) / 1.5;
    let hi = ys.iter().copied().fold(0.0, f64::max) * 1.5;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (1000, 620)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "Latency against offered load (open loop, coordinated-omission corrected)",
                (FONT, 20),
            )
            .margin(12)
            .x_label_area_size(50)
            .y_label_area_size(75)
            .build_cartesian_2d(0f64..xmax, (lo..hi).log_scale())
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("offered load, requests per second")
            .y_desc("latency, ms (log scale)")
            .x_label_formatter(&|v| thousands(*v))
            .y_label_formatter(&|y| ms_label(*y))
            .label_style((FONT, 13))
            .light_line_style(RGBAColor(0, 0, 0, 0.04))
            .draw()
            .map_err(err)?;
        for (i, id) in ids.iter().enumerate() {
            let c = color(i);
            let mine: Vec<_> = pts.iter().filter(|p| p.setup == *id).collect();
            let p99: Vec<(f64, f64)> = mine
                .iter()
                .map(|p| (p.offered_rps, (p.p99_us / 1000.0).max(0.001)))
                .collect();
            let p50: Vec<(f64, f64)> = mine
                .iter()
                .map(|p| (p.offered_rps, (p.p50_us / 1000.0).max(0.001)))
                .collect();
            chart
                .draw_series(LineSeries::new(p99, c.stroke_width(3)).point_size(4))
                .map_err(err)?
                .label(format!("{} — p99", name(id)))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(3))
                });
            let light = c.mix(0.55);
            chart
                .draw_series(DashedLineSeries::new(p50, 8, 5, light.stroke_width(2)))
                .map_err(err)?
                .label(format!("{} — p50", name(id)))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], light.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .label_font((FONT, 13))
            .draw()
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// A log-scale millisecond tick: whole numbers from 1 ms up, decimals below.
fn ms_label(y: f64) -> String {
    if y >= 1.0 {
        format!("{y:.0}")
    } else {
        format!("{y}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::results::LoadPoint;
    use crate::compare::stats::{rows, tests::sample};

    fn results() -> Results {
        let samples = vec![
            sample("B", "get", 1, 40_000.0, 1500),
            sample("RP", "get", 1, 36_000.0, 1700),
            sample("D", "get", 1, 1_100.0, 50_000),
            sample("B", "post", 1, 36_000.0, 1700),
            sample("RP", "post", 1, 17_000.0, 3000),
            sample("HT", "tls", 1, 30_000.0, 2000),
        ];
        let order = [
            ("get", "B"),
            ("get", "RP"),
            ("get", "D"),
            ("post", "B"),
            ("post", "RP"),
            ("tls", "HT"),
        ];
        let mut res = Results {
            rows: rows(&samples, &order, |l| if l == "tls" { "HT" } else { "B" }),
            ..Results::default()
        };
        for (i, f) in [0.25, 0.5, 1.0].iter().enumerate() {
            for id in ["B", "RP"] {
                res.latency_vs_load.push(LoadPoint {
                    setup: id.into(),
                    fraction: *f,
                    offered_rps: 40_000.0 * f,
                    rps: 40_000.0 * f,
                    p50_us: 500.0 * (i + 1) as f64,
                    p99_us: 2000.0 * (i + 1) as f64,
                    ..LoadPoint::default()
                });
            }
        }
        res
    }

    #[test]
    fn nines_axis() {
        assert_eq!(nines(0.0), 0.0);
        assert!((nines(90.0) - 1.0).abs() < 1e-9);
        assert!((nines(99.9) - 3.0).abs() < 1e-9);
        assert_eq!(percentile_label(2.0), "p99");
    }

    #[test]
    fn plots_render_with_titles_labels_and_legends() {
        let plots = all(&results()).unwrap();
        let names: Vec<&str> = plots.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            ["throughput.svg", "latency.svg", "latency-vs-load.svg"]
        );
        let (_, t) = &plots[0];
        assert!(t.starts_with("<svg") && t.contains("Throughput per setup"));
        assert!(t.contains("requests per second"));
        assert!(
            t.contains("Rampart, default pack") && t.contains("D Apache + ModSecurity 2 + CRS")
        );
        assert!(t.contains("36,000 (0.90×)"), "ratio at the bar");
        assert!(t.contains("POST 2 KiB JSON"), "legend names the loads");
        let (_, l) = &plots[1];
        assert!(l.contains("latency, ms (log scale)") && l.contains("p99.9"));
        let (_, v) = &plots[2];
        assert!(v.contains("offered load, requests per second"));
        assert!(v.contains("B HAProxy — p99") && v.contains("Rampart, default pack — p50"));
    }

    #[test]
    fn nothing_to_plot_is_no_plot() {
        assert!(all(&Results::default()).unwrap().is_empty());
    }
}
