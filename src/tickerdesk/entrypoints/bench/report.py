"""A bench report as one JSON document (`--json`) or as Rich tables for a person.

Ratios travel between machines better than raw figures: each measurement against the
floor (`GET /healthz`) and, for placements, against `pgbench -N` on the same
PostgreSQL in the same run.
"""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from tickerdesk.entrypoints.bench.run import Report
from tickerdesk.entrypoints.bench.scenarios import Measurement

PLACING = ("placement", "mix", "book")


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def _floor(report: Report) -> float | None:
    floors = [m.load.requests / m.load.seconds for m in report.measurements if m.kind == "floor" and m.load.seconds]
    return floors[0] if floors else None


def _tps(report: Report) -> float | None:
    return report.pgbench.tps if report.pgbench else None


def _measurement(m: Measurement, floor: float | None, tps: float | None) -> dict[str, Any]:
    load = m.load
    rate = load.requests / load.seconds if load.seconds else 0.0
    return {
        "name": m.name, "kind": m.kind, "requests": load.requests, "seconds": _round(load.seconds, 3),
        "rate": _round(rate, 1),
        "x_floor": _round(rate / floor, 3) if floor else None,
        "x_pgbench": _round(rate / tps, 3) if tps and m.kind in PLACING else None,
        "p50_ms": _round(load.p50_ms), "p95_ms": _round(load.p95_ms), "p99_ms": _round(load.p99_ms),
        "errors": load.errors,
        "unexpected_statuses": {str(code): n for code, n in sorted(load.unexpected.items())},
        "connection_errors": load.connection_errors,
        "server_cpu_seconds": _round(m.server_cpu_seconds),
        "load_generator_cpu_seconds": _round(load.cpu_seconds),
        "machine_cpu_seconds": _round(m.machine_cpu_seconds),
        # per request, in ms: what capacity planning multiplies (report: "CPU per request")
        "server_cpu_ms_per_request": _round(1000 * m.server_cpu_seconds / load.requests, 3)
        if m.server_cpu_seconds is not None and load.requests else None,
        "other_cpu_ms_per_request": _round(
            1000 * (m.machine_cpu_seconds - (m.server_cpu_seconds or 0) - load.cpu_seconds) / load.requests, 3)
        if m.machine_cpu_seconds is not None and load.requests else None,
        "notifications": None if m.notifications is None else {
            "samples": m.notifications.samples, "missing": m.notifications.missing,
            "p50_ms": _round(m.notifications.p50_ms), "p99_ms": _round(m.notifications.p99_ms)},
    }


def as_json(report: Report) -> dict[str, Any]:
    floor, tps = _floor(report), _tps(report)
    measurements = [_measurement(m, floor, tps) for m in report.measurements]
    placements = next((m for m in measurements if m["kind"] == "placement"), None)
    o = report.options
    soak = None
    if report.soak:
        empty, deep = [m for m in measurements if m["kind"] == "placement"][:2]
        soak = {"book_orders": report.soak.book_orders,
                "p99_ratio": _round(deep["p99_ms"] / empty["p99_ms"]) if empty["p99_ms"] else None,
                "p50_ratio": _round(deep["p50_ms"] / empty["p50_ms"]) if empty["p50_ms"] else None,
                "server_rss_mb_before": _round(report.soak.rss_mb_before, 1),
                "server_rss_mb_after": _round(report.soak.rss_mb_after, 1)}
    p = report.pgbench
    fills = report.fills
    rates = {m["name"]: m["rate"] for m in measurements}
    cache = {path: _round(rates[f"GET {path}"] / rates[f"GET {path}, no-cache"])
             for path in ("/balance", "/portfolio")
             if rates.get(f"GET {path}") and rates.get(f"GET {path}, no-cache")}
    return {
        "bench": "tickerdesk",
        "where": report.where,
        "machine": report.machine,
        "options": {"orders": o.orders, "concurrency": o.concurrency, "users": o.users, "workers": o.workers,
                    "mix": o.mix, "fills": o.fills, "soak": o.soak, "soak_orders": o.soak_orders if o.soak else None,
                    "pgbench_seconds": o.pgbench_seconds, "target": o.target},
        "load_generator": report.generator,
        "pgbench": None if p is None else {"tps": _round(p.tps, 1), "clients": p.clients, "seconds": p.seconds,
                                           "binary": p.binary, "server_version": p.server_version,
                                           "error": p.error},
        "broker": None if report.broker is None else {
            "messages": report.broker.messages, "published_per_second": _round(report.broker.published_per_second, 1),
            "delivered_per_second": _round(report.broker.delivered_per_second, 1), "error": report.broker.error},
        "floor_rate": _round(floor, 1),
        "placements_x_pgbench": placements["x_pgbench"] if placements else None,
        "placements_x_floor": placements["x_floor"] if placements else None,
        "measurements": measurements,
        "cached_x_uncached": cache or None,  # each read's rate from the cache over its rate past it
        "fills": None if fills is None else {"orders": fills.orders, "executed": fills.executed,
                                             "seconds": _round(fills.seconds, 3), "rate": _round(fills.rate, 1),
                                             "error": fills.error},
        "soak": soak,
        "verify": None if report.verify is None else {"clean": report.verify.clean, "output": report.verify.output},
        "seconds": _round(report.seconds, 1),
        "websocket_reconnects": report.websocket_reconnects,
        "server_log": report.server_log,
    }


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _ms3(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def render(report: Report) -> Group:
    doc = as_json(report)
    o = report.options
    title = (f"tickerdesk bench against {report.where}: {o.orders:,} placements each, {o.concurrency} in flight, "
             f"{o.users} users; load from {report.generator}; {doc['machine']['cpus']} cores; latency in ms, "
             "CPU in seconds, and per request in ms (other: the rest of the machine, mostly PostgreSQL)")
    table = Table(title=title)
    columns = ("measurement", "req/s", "× floor", "× pgbench", "p50", "p95", "p99", "errors", "server CPU",
               "load CPU", "server ms/req", "other ms/req")
    for column in columns:
        table.add_column(column, justify="left" if column == "measurement" else "right")
    for m in doc["measurements"]:
        errors = str(m["errors"])
        if m["errors"]:
            detail = ", ".join(f"{code}×{n}" for code, n in m["unexpected_statuses"].items())
            if m["connection_errors"]:
                detail += f"{', ' if detail else ''}{m['connection_errors']} connection"
            errors += f" ({detail})"
        table.add_row(m["name"], f"{m['rate']:,.0f}", "-" if m["x_floor"] is None else f"{m['x_floor']:.2f}",
                      "-" if m["x_pgbench"] is None else f"{m['x_pgbench']:.2f}", _ms(m["p50_ms"]),
                      _ms(m["p95_ms"]), _ms(m["p99_ms"]), errors, _ms(m["server_cpu_seconds"]),
                      _ms(m["load_generator_cpu_seconds"]), _ms3(m["server_cpu_ms_per_request"]),
                      _ms3(m["other_cpu_ms_per_request"]))
    lines: list[Text] = []
    p = doc["pgbench"]
    if p is None:
        lines.append(Text("pgbench -N: not run (--pgbench-seconds 0)"))
    elif p["tps"] is None:
        lines.append(Text(f"pgbench -N: not measured: {p['error']}", style="yellow"))
    else:
        lines.append(Text(f"pgbench -N on the same PostgreSQL {p['server_version']}: {p['tps']:,.0f} TPS "
                          f"({p['clients']} clients, {p['seconds']:g} s)"))
    if (b := doc["broker"]) is not None:
        if b["error"]:
            lines.append(Text(f"RabbitMQ: not measured: {b['error']}", style="yellow"))
        else:
            lines.append(Text(f"RabbitMQ, one quorum queue, {b['messages']:,} persistent 500-byte messages: "
                              f"{b['published_per_second']:,.0f}/s published with confirms, "
                              f"{b['delivered_per_second']:,.0f}/s delivered and acked"))
    for m in doc["measurements"]:
        n = m["notifications"]
        if n:
            lines.append(Text(f"notification latency during {m['name']}: 201 to trade.placed on the WebSocket "
                              f"p50 {_ms(n['p50_ms'])} ms, p99 {_ms(n['p99_ms'])} ms ({n['samples']} samples"
                              + (f", {n['missing']} missing)" if n["missing"] else ")"),
                              style="red" if n["missing"] else ""))
    if c := doc["cached_x_uncached"]:
        lines.append(Text("served from the cache: " + ", ".join(f"GET {path} {x}× its rate past the cache"
                                                                for path, x in c.items())))
    if f := doc["fills"]:
        rate = "-" if f["rate"] is None else f"{f['rate']:,.0f}"
        lines.append(Text(f"fill path: {f['executed']:,} of {f['orders']:,} resting orders executed in "
                          f"{_ms(f['seconds'] and f['seconds'] * 1000)} ms after one price move: {rate} "
                          "execution reports applied/s" + (f" (the price move: {f['error']})" if f["error"] else ""),
                          style="" if f["executed"] == f["orders"] and not f["error"] else "red"))
    if s := doc["soak"]:
        lines.append(Text(f"deep book ({s['book_orders']:,} resting orders, price walk on): placement p99 "
                          f"{s['p99_ratio']}× and p50 {s['p50_ratio']}× the empty book's; server RSS "
                          f"{s['server_rss_mb_before']} → {s['server_rss_mb_after']} MB"))
    v = doc["verify"]
    if v is not None:
        verdict = {True: ("tickerdesk verify: all invariants hold", "green"),
                   False: ("tickerdesk verify: INVARIANTS BROKEN\n" + v["output"], "bold red"),
                   None: ("tickerdesk verify: " + v["output"], "yellow")}[v["clean"]]
        lines.append(Text(*verdict))
    if report.websocket_reconnects:
        lines.append(Text(f"the server ended {report.websocket_reconnects} notification stream(s) (a subscriber too "
                          "far behind); the bench resumed them after the last seq seen", style="yellow"))
    if report.server_log:
        lines.append(Text("errors: the server's output ends with:\n" + report.server_log, style="yellow"))
    lines.append(Text(f"{doc['seconds']:.0f} s in all", style="dim"))
    return Group(table, *lines)
