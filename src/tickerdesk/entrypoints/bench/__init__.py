"""`tickerdesk bench`: placements per second against PostgreSQL's own price, measured in one run.

- `run`: the order of a run (pgbench, the server, the measurements, verify);
- `scenarios`: what is measured (floor, reads, placements, the realistic mix, the fill
  path, notification latency, the deep book);
- `load` and `pyload`: the load generators (wrk, else Python worker processes);
- `pgbench`, `server`, `api`: PostgreSQL's price, the server under test and `verify`,
  and the bench's own client for set-up and probes;
- `report`: the JSON document and the tables.
"""

from tickerdesk.entrypoints.bench.run import Options, Report, run
from tickerdesk.entrypoints.bench.server import BenchError

__all__ = ["BenchError", "Options", "Report", "run"]
