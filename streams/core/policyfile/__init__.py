"""Policy files (SPEC section 3): read, bounded, merged with revisions, validated.

    policies = load_policy_file("policies.yaml")              # or load_policies(text, file)
    policies = load_policy_file("policies.yaml", ["what-if.yaml"])

A broken file raises ``PolicyError`` listing every problem with the file, the path of the field
(``policies[2].incidents.P1.response``) and what was expected.

    loader       bounds, JSON or YAML, load_policy_file / load_policies
    revisions    merge_revisions: revision files merged into the policy file, a pure function
    validator    the document, each policy, its match, thresholds, targets, versions checked
    calendars    working hours, holidays, maintenance windows (one span parser)
    availability the availability block: target, period, credits, burn-rate rules
    checker      the problems found so far, and the checks every block shares
    text         how a problem quotes a value
"""

from .loader import (
    MAX_ALIASES,
    MAX_DEPTH,
    MAX_NODES,
    MAX_POLICY_BYTES,
    load_policies,
    load_policy_file,
    parse_policy_document,
    read_policy_document,
)
from .revisions import MergedPolicies, merge_revisions

__all__ = [
    "MAX_ALIASES", "MAX_DEPTH", "MAX_NODES", "MAX_POLICY_BYTES", "MergedPolicies",
    "load_policies", "load_policy_file", "merge_revisions", "parse_policy_document",
    "read_policy_document",
]
