"""FAB and FAB-T (Croce & Hein 2020): on a linear classifier the smallest perturbation that changes the decision is
known exactly (a linear programme in l-inf, a closed form in l2 where the box does not bind); FAB's minimal
perturbations are never below it and come within 1 %; at a fixed radius it returns adversarial examples inside the
ball, and the unchanged point where it found none."""

import keras
import numpy as np
import pytest
from scipy.optimize import linprog

from kerobust.attacks.fab import FAB, project_on_hyperplane
from kerobust.errors import KerobustError

SHAPE, CLASSES = (3, 3, 1), 4


@pytest.fixture(scope="module")
def linear():
    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input(SHAPE), keras.layers.Flatten(), keras.layers.Dense(CLASSES)])
    w, b = model.layers[-1].get_weights()
    x = np.random.default_rng(0).uniform(0.35, 0.65, size=(12, *SHAPE)).astype("float32")
    y = np.argmax(x.reshape(len(x), -1) @ w + b, axis=1)  # the model's own decisions: every point correct
    return model, w, b, x, y


def exact_linf(w, b, x, y):
    """min ||delta||_inf over the box [0, 1] such that some class j scores at least y: one LP per j."""
    d = x.size
    best = np.inf
    for j in range(w.shape[1]):
        if j == y:
            continue
        a = w[:, j] - w[:, y]  # (z_j - z_y)(x + delta) = a . (x + delta) + b_j - b_y >= 0
        # variables [delta (d), t]: minimise t, -a . delta <= a . x + b_j - b_y, |delta_i| <= t, 0 <= x + delta <= 1
        cost = np.r_[np.zeros(d), 1.0]
        rows = [np.r_[-a, 0.0]]
        rhs = [a @ x + b[j] - b[y]]
        for i in range(d):
            rows += [np.r_[np.eye(d)[i], -1.0], np.r_[-np.eye(d)[i], -1.0]]
            rhs += [0.0, 0.0]
        bounds = [(-x[i], 1.0 - x[i]) for i in range(d)] + [(0, None)]
        result = linprog(cost, A_ub=np.array(rows), b_ub=np.array(rhs), bounds=bounds, method="highs")
        if result.status == 0:
            best = min(best, result.x[-1])
    return best


def exact_l1(w, b, x, y):
    """min ||delta||_1 over the box [0, 1] such that some class j scores at least y: one LP per j, with delta split
    into its positive and negative parts."""
    d = x.size
    best = np.inf
    for j in range(w.shape[1]):
        if j == y:
            continue
        a = w[:, j] - w[:, y]
        # variables [u (d), v (d)], delta = u - v, u, v >= 0: minimise sum(u + v), -a . (u - v) <= a . x + b_j - b_y
        bounds = [(0, 1.0 - x[i]) for i in range(d)] + [(0, x[i]) for i in range(d)]
        result = linprog(np.ones(2 * d), A_ub=np.r_[-a, a][None], b_ub=[a @ x + b[j] - b[y]], bounds=bounds,
                         method="highs")
        if result.status == 0:
            best = min(best, result.fun)
    return best


def exact_l2_without_box(w, b, x, y):
    """min_j (z_y - z_j) / ||w_y - w_j||_2: the distance to the closest decision boundary."""
    z = x @ w + b
    return min((z[y] - z[j]) / np.linalg.norm(w[:, y] - w[:, j]) for j in range(w.shape[1]) if j != y)


@pytest.mark.parametrize("targets", [0, CLASSES - 1], ids=["FAB", "FAB-T"])
@pytest.mark.parametrize("near_the_box", [False, True], ids=["inside", "box-binding"])
def test_minimal_linf_perturbations_match_the_linear_programme(linear, targets, near_the_box):
    model, w, b, x, y = linear
    if near_the_box:  # pixels near 0 or 1: the box stops some coordinates before the ball does
        x = np.where(np.random.default_rng(5).uniform(size=x.shape) < 0.5, 0.01, 0.99).astype("float32")
        y = np.argmax(x.reshape(len(x), -1) @ w + b, axis=1)
    found = FAB(eps=0.1, norm="linf", targets=targets).minimal(model, x, y)
    exact = np.array([exact_linf(w, b, point.ravel().astype("float64"), label) for point, label in zip(x, y)])
    assert np.all(found >= exact * (1 - 1e-4))  # never below the true minimum
    np.testing.assert_allclose(found, exact, rtol=1e-2)


@pytest.mark.parametrize("targets", [0, CLASSES - 1], ids=["FAB", "FAB-T"])
def test_minimal_l2_perturbations_match_the_closed_form(linear, targets):
    model, w, b, x, y = linear
    exact = np.array([exact_l2_without_box(w, b, point.ravel(), label) for point, label in zip(x, y)])
    assert np.all(exact < 0.3)  # the ball stays inside the box: the closed form is the true minimum
    found = FAB(eps=0.1, norm="l2", targets=targets).minimal(model, x, y)
    assert np.all(found >= exact * (1 - 1e-4))
    np.testing.assert_allclose(found, exact, rtol=1e-2)


@pytest.mark.parametrize("near_the_box", [False, True], ids=["inside", "box-binding"])
def test_minimal_l1_perturbations_match_the_linear_programme(linear, near_the_box):
    model, w, b, x, y = linear
    if near_the_box:
        x = np.where(np.random.default_rng(5).uniform(size=x.shape) < 0.5, 0.01, 0.99).astype("float32")
        y = np.argmax(x.reshape(len(x), -1) @ w + b, axis=1)
    found = FAB(eps=0.5, norm="l1", targets=CLASSES - 1).minimal(model, x, y)
    exact = np.array([exact_l1(w, b, point.ravel().astype("float64"), label) for point, label in zip(x, y)])
    assert np.all(found >= exact * (1 - 1e-4))
    np.testing.assert_allclose(found, exact, rtol=1e-2)


def test_restarts_only_ever_find_closer_points(linear):
    """Each restart is one more run whose closest point competes per point: never farther than without restarts, and
    the random starts are seeded (the same seed gives the same norms)."""
    model, w, b, x, y = linear
    once = FAB(eps=0.3, norm="l2", steps=5).minimal(model, x, y)
    thrice = FAB(eps=0.3, norm="l2", steps=5, restarts=3)
    found = thrice.minimal(model, x, y, seed=4)
    assert np.all(found <= once)
    np.testing.assert_array_equal(found, thrice.minimal(model, x, y, seed=4))


@pytest.mark.smoke
def test_at_a_fixed_radius_adversarial_examples_lie_in_the_ball_or_the_point_is_unchanged(linear):
    model, w, b, x, y = linear
    exact = np.array([exact_linf(w, b, point.ravel().astype("float64"), label) for point, label in zip(x, y)])
    eps = float(np.median(exact))
    x_adv = np.asarray(FAB(eps=eps, norm="linf", targets=CLASSES - 1)(model, x, y))
    moved = np.abs(x_adv - x).reshape(len(x), -1).max(axis=1)
    fooled = np.argmax(np.asarray(model(x_adv)), axis=1) != y
    assert np.all(moved <= eps + 1e-6)
    assert np.all(fooled[exact < eps / 1.01])  # FAB finds every point it can (with 1 % of slack)
    assert not np.any(fooled[exact > eps])  # and no point is fooled beyond its true minimum
    assert np.all(moved[~fooled] == 0)


def test_the_box_constrained_projection_is_the_closest_point_of_the_hyperplane_in_the_box():
    rng = np.random.default_rng(1)
    p = rng.uniform(0, 1, size=(5, 6)).astype("float32")
    w = rng.normal(size=(5, 6)).astype("float32")
    c = np.sum(w * p, axis=1) + rng.uniform(-0.5, 0.5, size=5).astype("float32")
    for norm in ("linf", "l2", "l1"):
        z = np.asarray(project_on_hyperplane(p, w, c, norm, 0.0, 1.0))
        assert np.all((z >= 0) & (z <= 1))
        reachable = np.abs(np.sum(w * z, axis=1) - c) < 1e-4
        for i in np.flatnonzero(reachable):  # no box point on the hyperplane is closer (random search)
            others = rng.uniform(0, 1, size=(20000, 6))
            on_plane = np.abs(others @ w[i] - c[i]) < 1e-2
            order = {"linf": np.inf, "l2": 2, "l1": 1}[norm]
            distance = np.linalg.norm(others[on_plane] - p[i], ord=order, axis=1)
            own = np.linalg.norm(z[i] - p[i], ord=order)
            assert own <= distance.min() + 2e-2


def test_the_l1_projection_equals_the_linear_programme():
    """min ||z - p||_1 subject to w . z = c and 0 <= z <= 1, solved by HiGHS; where the box keeps the hyperplane out
    of reach, every coordinate moves to the box's limit in the direction that approaches it."""
    rng = np.random.default_rng(2)
    p = rng.uniform(0, 1, size=(8, 7))
    w = rng.normal(size=(8, 7))
    c = np.sum(w * p, axis=1) + rng.uniform(-1.5, 1.5, size=8)
    z = np.asarray(project_on_hyperplane(p.astype("float32"), w.astype("float32"), c.astype("float32"), "l1", 0, 1))
    for i in range(8):
        d = 7  # variables [u, v], z = p + u - v
        bounds = [(0, 1 - p[i, k]) for k in range(d)] + [(0, p[i, k]) for k in range(d)]
        exact = linprog(np.ones(2 * d), A_eq=np.r_[w[i], -w[i]][None], b_eq=[c[i] - w[i] @ p[i]], bounds=bounds,
                        method="highs")
        if exact.status == 0:
            assert abs(w[i] @ z[i] - c[i]) < 1e-4
            np.testing.assert_allclose(np.abs(z[i] - p[i]).sum(), exact.fun, rtol=1e-5, atol=1e-6)
        else:  # out of reach: the box corner nearest the hyperplane
            corner = np.where(np.sign(w[i]) * np.sign(c[i] - w[i] @ p[i]) > 0, 1.0, 0.0)
            np.testing.assert_allclose(z[i], corner, atol=1e-6)


def test_bad_settings_are_refused():
    with pytest.raises(KerobustError, match="steps >= 1"):
        FAB(eps=0.1, steps=0)
    with pytest.raises(KerobustError, match="targets must be >= 0"):
        FAB(eps=0.1, targets=-1)
    with pytest.raises(KerobustError, match="restarts must be >= 1"):
        FAB(eps=0.1, restarts=0)
    with pytest.raises(KerobustError, match="unknown norm"):
        FAB(eps=0.1, norm="l0")
    from kerobust.attacks import PGD

    with pytest.raises(KerobustError, match="unknown norm"):  # l1 is FAB's alone
        PGD(eps=0.1, norm="l1")


def test_eval_builds_fab_and_fab_t_from_the_attack_list():
    from kerobust.evaluation.attack_specs import AttackOptions, build_attacks, parse_attack_list

    fab, fab_t = build_attacks(parse_attack_list("fab,fab-t-50"), 0.1, AttackOptions(targets=3))
    assert (fab.describe(), fab_t.describe()) == ("FAB-100 linf eps=0.1", "FAB-T-50 linf eps=0.1 x3 targets")
    with pytest.raises(KerobustError, match="FAB does not average gradients"):
        build_attacks(parse_attack_list("fab"), 0.1, AttackOptions(eot_samples=10))
