"""Policies are data: which rule ids each Windows version applies."""

from __future__ import annotations

import pytest

from toolkit.model.errors import InputError
from toolkit.seh.policy import DEFAULT_POLICY, POLICIES, get_policy, policy_for_os
from toolkit.seh.rules import RULES


def test_default_policy_is_win10():
    assert DEFAULT_POLICY == "win10" and get_policy().name == "win10"


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_every_policy_names_only_registered_rules(name):
    assert set(POLICIES[name].rules) <= set(RULES)


def test_only_2003_checks_the_lower_stack_bound():
    assert [n for n, p in POLICIES.items() if "STACK_LOW" in p.rules] == ["2003"]


def test_only_win10_applies_sehop():
    assert [n for n, p in POLICIES.items() if "SEHOP_FINAL" in p.rules] == ["win10"]
    assert POLICIES["win10"].chain_rules == ("SEHOP_FINAL", "SEHOP_WALK")


def test_unknown_policy_is_an_input_error():
    with pytest.raises(InputError, match="unknown SEH policy 'xp'"):
        get_policy("xp")


@pytest.mark.parametrize("major, minor, policy", [
    (5, 1, "2003"), (5, 2, "2003"), (6, 0, "vista"), (6, 3, "vista"), (10, 0, "win10"),
    (None, None, DEFAULT_POLICY)])
def test_os_version_picks_the_policy_of_its_dispatcher(major, minor, policy):
    assert policy_for_os(major, minor) == policy
