"""The poutine validation flag: its own switch, set by tracegraph.enable_validation."""

from __future__ import annotations

import warnings

import pytest
import torch

import tracegraph
import tracegraph.distributions as dist
from tracegraph import poutine
from tracegraph.poutine import validation


def _nan_trace():
    fn = dist.Normal(torch.tensor(float("nan")), 1.0, validate_args=False)
    return poutine.trace(lambda: tracegraph.sample("x", fn, obs=torch.tensor(0.0))).get_trace()


def test_nan_log_prob_warns_under_validation_naming_the_site():
    with pytest.warns(UserWarning, match="Encountered NaN: log_prob_sum at site 'x'"):
        _nan_trace().log_prob_sum()


def test_positive_infinite_log_prob_warns_and_negative_does_not():
    def model(v):
        tracegraph.factor("f", torch.tensor(v))

    with pytest.warns(UserWarning, match=r"Encountered \+inf: log_prob_sum at site 'f'"):
        poutine.trace(model).get_trace(math_inf()).log_prob_sum()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        poutine.trace(model).get_trace(-math_inf()).log_prob_sum()


def math_inf():
    return float("inf")


def test_poutine_flag_alone_switches_the_trace_checks():
    with validation.validation_enabled(False), warnings.catch_warnings():
        warnings.simplefilter("error")
        _nan_trace().log_prob_sum()
    assert validation.is_validation_enabled()


def test_enable_validation_sets_both_flags():
    tracegraph.enable_validation(False)
    try:
        assert not validation.is_validation_enabled()
        assert not tracegraph.distributions.is_validation_enabled()
    finally:
        tracegraph.enable_validation(True)
    assert validation.is_validation_enabled()


def test_poutine_enable_validation_leaves_distributions_alone():
    poutine.enable_validation(False)
    try:
        assert not poutine.is_validation_enabled()
        assert tracegraph.distributions.is_validation_enabled()
    finally:
        poutine.enable_validation(True)
