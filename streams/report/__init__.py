"""``slawatch report``: KPIs from the alert and outcome records, by customer, service, severity,
policy and period.

The records are a changelog keyed by ``alert_id`` (SPEC section 5), so a report first compacts
them: the latest record per key stands, a ``retraction`` (or a Kafka tombstone) withdraws the key,
and dead letters (``invalid``, ``late``) are counted and ignored. Then it groups what stands and
computes the figures of each group. One module per step, each importing only those above it::

    records   Rec (one record, checked), Changelog (the latest per alert_id), Standing
    options   ReportOptions (the flags, checked) and ReportError
    failures  the failure-rate figures of a group: request objectives, availability outages
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
- compliance: met outcomes / outcomes, per metric and over all outcomes (request objectives'
  periods included), in percent.
- breaches: standing ``breach`` records, except an availability or request objective period's
  credit-tier records (threshold > 1), which deepen the period's breach rather than add one.
  near-breaches: standing ``near_breach`` records (each threshold, each burn-rate episode).
- availability: periods that ended (availability outcomes). ``availability_percent`` pools them:
  ``100 * (1 - sum(downtime) / sum(counted length))``, where a period's counted length (maintenance
  excluded) is ``budget / (1 - target/100)``; ``availability_min_percent`` is the worst period.
  ``budget_burn_percent`` is ``100 * sum(downtime) / sum(budget)``.
- credits: owed per (service, policy, period): the period outcome's ``credit_percent`` (the
  greatest tier reached), listed in the period rows. A group gives the number of periods with a
  credit and the greatest credit; percentages of different periods are never added.
- outages (columns only when an availability outcome carries ``outages``, SPEC 5): over those
  outcomes, ``outages`` summed (an outage across a period's end counts in both periods, as the
  SPEC counts it), ``outages_per_period``; ``mtbf_s`` = Σ up time / Σ outages, a period's up
  time being its counted length minus its downtime; ``mean_outage_s`` = Σ downtime / Σ outages
  (both n/a without an outage).
- request objectives (columns only when a request objective's record stands, SPEC 9): over the
  period outcomes, ``requests_compliance_percent`` = met / periods; pooled per kind of SLI over
  the occurrences periods (a timeslices period publishes no counts), ``requests_error_rate_percent``
  = ``100 × Σ (total - good) / Σ total`` of the ``errors`` objectives and
  ``requests_latency_good_percent`` = ``100 × Σ good / Σ total`` of the ``latency`` ones; the
  worst period's budget burn (occurrences: ``bad / ((1 - target/100) × total)``, 0 with no
  request; timeslices: ``bad_seconds / budget_seconds``) and the credits, as for availability.
  One row per period outcome in ``objective_period_rows``.
- periods (UTC): an incident's records go to the period of its ``opened_at`` (from any of its
  outcomes), else of its earliest ``at``; availability records to the period holding the middle of
  their ``[period_start, period_end)`` (so a month in Tokyo, which starts at 15:00Z on the last day
  of the UTC month before, is its own month), and so do a request objective's period records;
  burn-rate alerts to their ``at``.
"""

from __future__ import annotations

from .failures import (
    OBJECTIVE_COLUMNS,
    OUTAGE_COLUMNS,
    budget_burn_percent,
    objective_figures,
    outage_figures,
)
from .formats import format_csv, format_report, format_table, human_duration, parse_csv, report_json
from .kpis import (
    KPI_COLUMNS,
    NONE,
    OBJECTIVE_PERIOD_COLUMNS,
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
    objective_period_rows,
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
    "OBJECTIVE_COLUMNS", "OBJECTIVE_PERIOD_COLUMNS", "OUTAGE_COLUMNS",
    "OUTCOME_METRICS", "PERIODS", "PERIOD_COLUMNS", "RECORDS_WITHIN",
    "BadRecord", "Cell", "Changelog", "CompliancePoint", "Rec", "Report", "ReportError",
    "ReportOptions", "Row", "Source", "Standing",
    "budget_burn_percent", "build_report", "compliance_series", "decode_record", "format_csv",
    "format_report", "format_table", "human_duration", "kpi_rows", "kpis", "line_holds",
    "nearest_rank", "not_records", "objective_figures", "objective_period_rows",
    "outage_figures", "parse_csv", "period_label", "period_rows", "read_changelog_topics",
    "read_jsonl", "report_json", "run_report",
]
