-- perf/tls.sh's request: the peers kit's GET headers (a normal API client),
-- with a Host that names the API rather than a loopback name. wrk connects
-- to https://localhost:PORT, so the ClientHello carries SNI "localhost".
wrk.method = "GET"
wrk.headers["Host"] = "bench.test"
wrk.headers["User-Agent"] = "peers-bench/1.0"
wrk.headers["Accept"] = "application/json"
