//! Splitting a request's structured parts (query, cookies, bodies) into fields.
