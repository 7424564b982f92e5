"""Stores that speak the DynamoDB API: AWS DynamoDB, ScyllaDB's Alternator, or dynalite
(deploy/dynalite/, started by scripts/dynalite.sh) on one machine. `client` is the
connection (throttling retried with back-off, tables created and awaited until ACTIVE,
exact numbers on the wire); `history` the transaction-history store on it."""
