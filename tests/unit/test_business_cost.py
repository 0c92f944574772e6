import numpy as np

from mlsys_assets.business_cost import CostModel


def test_realised_cost_charges_each_error_its_price():
    cost = CostModel(missed_delay=50, false_alarm=10)
    # missed delay, false alarm, true alarm, true quiet
    assert cost.realised([1, 0, 1, 0], [0, 1, 1, 0]).tolist() == [50, 10, 0, 0]


def test_expected_cost_matches_realised_on_average_for_calibrated_probabilities():
    rng = np.random.default_rng(0)
    p = rng.uniform(size=200_000)
    y = rng.uniform(size=p.size) < p
    cost = CostModel(missed_delay=50, false_alarm=10)
    decision = p >= 0.3
    assert abs(cost.expected(p, decision).mean() - cost.realised(y, decision).mean()) < 0.2


def test_the_cost_optimal_threshold_is_the_price_ratio():
    rng = np.random.default_rng(1)
    p = rng.uniform(size=100_000)
    y = rng.uniform(size=p.size) < p
    cost = CostModel(missed_delay=50, false_alarm=10)
    assert abs(cost.optimal_threshold - 1 / 6) < 1e-12
    assert abs(cost.best_threshold(p, y) - cost.optimal_threshold) < 0.03
