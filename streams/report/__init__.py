"""``slawatch report``: KPIs from the alert and outcome records, by customer, service, severity,
policy and period.

The records are a changelog keyed by ``alert_id`` (SPEC section 5), so a report first compacts
them: the latest record per key stands, a ``retraction`` (or a Kafka tombstone) withdraws the key,
and dead letters (``invalid``, ``late``) are counted and ignored. Then it groups what stands and
computes the figures of each group. One module per step, each importing only those above it::

    records   Rec (one record, checked), Changelog (the latest per alert_id), Standing
    options   ReportOptions (the flags, checked) and ReportError
    kpis      the figures: KPI rows per group, period rows, compliance per period, Report
    formats   the table, CSV and JSON of a Report
    charts    the PNG charts of a Report (the only module that imports matplotlib)
    run       the shell: a file, stdin or the output topics in; text, files and charts out

``records`` to ``formats`` are pure: records in, rows and text out. ``run_report`` loads ``charts``
(matplotlib) only when charts are asked for, and ``streams.topicread`` (kafka-python) only for
the topics. This package exports what the command line and the tests use.

Definitions (the README's "Reports" section says the same for users):

- incidents: distinct ``incident_id`` among the group's standing records (alerts and outcomes).
- MTTA / MTTR: over the standing ``response`` / ``resolution`` outcomes. Working time is the
  outcome's ``elapsed_seconds`` (on the policy's calendar, pauses excluded for resolution); wall
  time is ``at - opened_at``. Outcomes without ``opened_at`` (older producers) have no wall time:
  the wall figures cover the others, and are ``None`` (n/a) when none has it.
- custom clocks (SPEC 4.1): per clock the records name, its compliance and the time to its stop
  (``{clock}_time_*``: working and wall, as MTTA/MTTR), after the fixed columns; their outcomes
  count in the overall compliance.
- p50 / p90: nearest rank: the value of rank ``ceil(p/100 * n)`` in ascending order.
- compliance: met outcomes / outcomes, per metric and over all outcomes, in percent.
- breaches: standing ``breach`` records, except an availability period's credit-tier records
  (threshold > 1), which deepen the period's breach rather than add one. near-breaches: standing
  ``near_breach`` records (each threshold, each burn-rate episode).
- availability: periods that ended (availability outcomes). ``availability_percent`` pools them:
  ``100 * (1 - sum(downtime) / sum(counted length))``, where a period's counted length (maintenance
  excluded) is ``budget / (1 - target/100)``; ``availability_min_percent`` is the worst period.
  ``budget_burn_percent`` is ``100 * sum(downtime) / sum(budget)``.
- credits: owed per (service, policy, period): the period outcome's ``credit_percent`` (the
  greatest tier reached), listed in the period rows. A group gives the number of periods with a
  credit and the greatest credit; percentages of different periods are never added.
- periods (UTC): an incident's records go to the period of its ``opened_at`` (from any of its
  outcomes), else of its earliest ``at``; availability records to the period holding the middle of
  their ``[period_start, period_end)`` (so a month in Tokyo, which starts at 15:00Z on the last day
  of the UTC month before, is its own month); burn-rate alerts to their ``at``.
"""

from __future__ import annotations

from .formats import format_csv, format_report, format_table, human_duration, parse_csv, report_json
from .kpis import (
    KPI_COLUMNS,
    NONE,
    OUTCOME_METRICS,
    PERIOD_COLUMNS,
    Cell,
    CompliancePoint,
    Report,
    Row,
    build_report,
    compliance_series,
    kpi_rows,
    kpis,
    nearest_rank,
    period_label,
    period_rows,
)
from .options import DIMENSIONS, FORMATS, PERIODS, ReportError, ReportOptions
from .records import (
    DEAD_LETTERS,
    INCIDENT_METRICS,
    BadRecord,
    Changelog,
    Rec,
    Standing,
    decode_record,
)
from .run import (
    RECORDS_WITHIN,
    Source,
    line_holds,
    not_records,
    read_changelog_topics,
    read_jsonl,
    run_report,
)

__all__ = [
    "DEAD_LETTERS", "DIMENSIONS", "FORMATS", "INCIDENT_METRICS", "KPI_COLUMNS", "NONE",
    "OUTCOME_METRICS", "PERIODS", "PERIOD_COLUMNS", "RECORDS_WITHIN",
    "BadRecord", "Cell", "Changelog", "CompliancePoint", "Rec", "Report", "ReportError",
    "ReportOptions", "Row", "Source", "Standing",
    "build_report", "compliance_series", "decode_record", "format_csv", "format_report",
    "format_table", "human_duration", "kpi_rows", "kpis", "line_holds", "nearest_rank",
    "not_records", "parse_csv", "period_label", "period_rows", "read_changelog_topics",
    "read_jsonl", "report_json", "run_report",
]
