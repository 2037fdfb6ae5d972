# Shortcuts only: every command here is a plain cargo command you can run without just.

# Format, lint and test everything (what CI runs).
ci:
    bash .ci/run

# The test suite (needs PostgreSQL, Redis and the S3 test server on localhost; see README).
test:
    cargo test --workspace

# Start the S3-compatible test server (moto, from PyPI) on 127.0.0.1:9000, as .ci/run does.
s3:
    python3 -m pip install --quiet 'moto[server]==5.2.1'
    python3 -m moto.server -H 127.0.0.1 -p 9000

# Lint with warnings as errors.
lint:
    cargo fmt --all --check
    cargo clippy --workspace --all-targets -- -D warnings

# Run the api with the default SQLite store.
run:
    cargo run --release --bin agora-api

# Run a separate worker.
worker:
    cargo run --release --bin agora-worker

# The embedding example.
example:
    cargo run -p agora-core --example order_lifecycle

# Benchmarks of docs/performance.md: the whole table (needs PostgreSQL and Redis
# as for `test`; about 10 s per side per row; builds agora-api for the HTTP row).
bench seconds="10":
    cargo run --release -p agora-bench -- suite --seconds {{seconds}}
