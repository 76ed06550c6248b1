"""Each strategy against its formula on hand-made updates; chunked sums = per-client."""

import math

import pytest
import torch

from troupe.algorithms.federated import (
    STRATEGIES,
    aggregate_clients,
    client_sums,
    coordinate_median,
    fednova_normalizer,
    fedprox_penalty,
    krum,
    krum_scores,
    make_strategy,
    scaffold_client_control,
    scaffold_correct_grad,
    single_delta,
    sum_all,
    trimmed_mean,
    weighted_mean,
)

G = {"w": torch.tensor([1.0, -2.0]), "b": torch.tensor([0.5])}
D = [
    {"w": torch.tensor([1.0, 0.0]), "b": torch.tensor([2.0])},
    {"w": torch.tensor([3.0, -1.0]), "b": torch.tensor([0.0])},
    {"w": torch.tensor([-2.0, 4.0]), "b": torch.tensor([1.0])},
]
N = [1.0, 3.0, 4.0]


def avg():
    return {k: sum(n * d[k] for n, d in zip(N, D, strict=True)) / sum(N) for k in G}


def close(x, y):
    assert x.keys() == y.keys()
    for k in x:
        torch.testing.assert_close(x[k], y[k], rtol=1e-5, atol=1e-6)


def test_weighted_mean():
    close(
        weighted_mean(D, N), {"w": torch.tensor([2.0 / 8, 13.0 / 8]), "b": torch.tensor([6.0 / 8])}
    )


def test_fedavg_and_server_lr():
    s = make_strategy("fedavg", server_lr=0.5)
    new, _ = aggregate_clients(s, G, D, N, s.init(G))
    close(new, {k: G[k] + 0.5 * avg()[k] for k in G})


def test_fedavgm_two_rounds():
    s = make_strategy("fedavgm", server_lr=1.0, beta=0.9)
    state = s.init(G)
    g1, state = aggregate_clients(s, G, D, N, state)
    close(g1, {k: G[k] + avg()[k] for k in G})
    g2, state = aggregate_clients(s, g1, D, N, state)
    close(g2, {k: g1[k] + 1.9 * avg()[k] for k in G})  # v = 0.9 * avg + avg


def test_fedprox_penalty_and_aggregation():
    w = {"w": torch.tensor([2.0, 0.0], requires_grad=True), "b": torch.tensor([0.5])}
    p = fedprox_penalty(w, G, mu=0.1)
    assert p.item() == pytest.approx(0.05 * (1 + 4))
    p.backward()
    torch.testing.assert_close(w["w"].grad, 0.1 * (w["w"].detach() - G["w"]))
    s = make_strategy("fedprox", mu=0.1)
    assert s.proximal_mu == 0.1
    close(aggregate_clients(s, G, D, N, s.init(G))[0], {k: G[k] + avg()[k] for k in G})


@pytest.mark.parametrize("name", ["fedadam", "fedyogi", "fedadagrad"])
def test_adaptive_two_rounds(name):
    eta, b1, b2, tau = 0.1, 0.9, 0.99, 1e-3
    kw = dict(eta=eta, beta_1=b1, tau=tau) | ({} if name == "fedadagrad" else {"beta_2": b2})
    s = make_strategy(name, **kw)
    state = s.init(G)
    g, m, v = (
        dict(G),
        {k: torch.zeros_like(G[k]) for k in G},
        {k: torch.zeros_like(G[k]) for k in G},
    )
    for _ in range(2):
        new, state = aggregate_clients(s, g, D, N, state)
        d = avg()
        for k in G:
            m[k] = b1 * m[k] + (1 - b1) * d[k]
            if name == "fedadagrad":
                v[k] = v[k] + d[k] ** 2
            elif name == "fedadam":
                v[k] = b2 * v[k] + (1 - b2) * d[k] ** 2
            else:
                v[k] = v[k] - (1 - b2) * d[k] ** 2 * torch.sign(v[k] - d[k] ** 2)
        expected = {k: g[k] + eta * m[k] / (v[k].sqrt() + tau) for k in G}
        close(new, expected)
        g = new


def test_scaffold_client_side():
    c = {"w": torch.tensor([0.1, 0.2]), "b": torch.tensor([0.0])}
    ci = {"w": torch.tensor([0.3, -0.1]), "b": torch.tensor([1.0])}
    grad = {"w": torch.tensor([1.0, 1.0]), "b": torch.tensor([2.0])}
    close(
        scaffold_correct_grad(grad, c, ci),
        {"w": torch.tensor([0.8, 1.3]), "b": torch.tensor([1.0])},
    )
    y = {"w": torch.tensor([0.0, -1.0]), "b": torch.tensor([0.5])}
    new = scaffold_client_control(ci, c, G, y, local_steps=5, lr=0.1)
    close(new, {k: ci[k] - c[k] + (G[k] - y[k]) / 0.5 for k in G})


def test_scaffold_server():
    s = make_strategy("scaffold", num_clients=10, server_lr=0.5)
    state = s.init(G)
    dc = [{k: torch.full_like(G[k], float(i + 1)) for k in G} for i in range(3)]
    new, state = aggregate_clients(s, G, D, N, state, control_deltas=dc)
    close(new, {k: G[k] + 0.5 * avg()[k] for k in G})
    # c += |S|/N * mean(dc) = 3/10 * 2
    close(state.control, {k: torch.full_like(G[k], 0.6) for k in G})
    with pytest.raises(ValueError, match="control_delta"):
        aggregate_clients(s, G, D, N, state)


def test_fednova_normalizer():
    assert fednova_normalizer(5) == 5.0
    rho, tau = 0.9, 4
    expected = sum((1 - rho ** (tau - j)) / (1 - rho) for j in range(tau))  # ||a_i||_1
    assert fednova_normalizer(tau, momentum=rho) == pytest.approx(expected)


@pytest.mark.parametrize("rho", [0.0, 0.9])
def test_fednova(rho):
    steps = [2, 5, 10]
    s = make_strategy("fednova", momentum=rho, server_lr=1.0)
    new, _ = aggregate_clients(s, G, D, N, s.init(G), local_steps=steps)
    p = [n / sum(N) for n in N]
    a = [fednova_normalizer(t, rho) for t in steps]
    tau_eff = sum(pi * ai for pi, ai in zip(p, a, strict=True))
    expected = {
        k: G[k] + tau_eff * sum(pi * d[k] / ai for pi, d, ai in zip(p, D, a, strict=True))
        for k in G
    }
    close(new, expected)


def test_fednova_with_equal_steps_is_fedavg():
    s = make_strategy("fednova")
    new, _ = aggregate_clients(s, G, D, N, s.init(G), local_steps=[7, 7, 7])
    close(new, {k: G[k] + avg()[k] for k in G})


def test_median_and_trimmed_mean():
    close(coordinate_median(D), {"w": torch.tensor([1.0, 0.0]), "b": torch.tensor([1.0])})
    close(coordinate_median(D[:2]), {"w": torch.tensor([2.0, -0.5]), "b": torch.tensor([1.0])})
    five = [{"x": torch.tensor([float(v)])} for v in [100.0, 1.0, 2.0, 3.0, -50.0]]
    close(trimmed_mean(five, 0.2), {"x": torch.tensor([2.0])})
    close(trimmed_mean(five, 0.0), {"x": torch.tensor([56.0 / 5])})
    s = make_strategy("median")
    assert s.needs_client_deltas
    close(
        aggregate_clients(s, G, D, N, s.init(G))[0], {k: G[k] + coordinate_median(D)[k] for k in G}
    )
    s = make_strategy("trimmed_mean", beta=0.2)
    close(
        aggregate_clients(s, {"x": torch.zeros(1)}, five, [1.0] * 5, s.init(G))[0],
        {"x": torch.tensor([2.0])},
    )


def test_krum():
    pts = [{"x": torch.tensor([v, 0.0])} for v in [0.0, 1.0, 2.0, 10.0, 30.0]]
    # n=5, f=1: each score sums squared distances to its 2 nearest others
    scores = krum_scores(pts, f=1)
    torch.testing.assert_close(
        scores, torch.tensor([1.0 + 4, 1 + 1, 1 + 4, 64 + 81, 400 + 784], dtype=torch.float64)
    )
    close(krum(pts, f=1), {"x": torch.tensor([1.0, 0.0])})
    close(krum(pts, f=1, m=3), {"x": torch.tensor([1.0, 0.0])})
    with pytest.raises(ValueError, match="n - f - 2"):
        krum(pts, f=3)
    s = make_strategy("krum", f=1)
    new, _ = aggregate_clients(s, {"x": torch.zeros(2)}, pts, [1.0] * 5, s.init(G))
    close(new, {"x": torch.tensor([1.0, 0.0])})


def test_single_delta_roundtrip():
    part = client_sums(D[1], 3.0, normalizer=4.0)
    close(single_delta(part), D[1])


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_chunked_sums_equal_per_client(name):
    gen = torch.Generator().manual_seed(0)
    n = 7
    glob = {"w": torch.randn(3, 2, generator=gen), "b": torch.randn(2, generator=gen)}
    deltas = [{k: torch.randn(v.shape, generator=gen) for k, v in glob.items()} for _ in range(n)]
    weights = [float(w) for w in torch.randint(1, 50, (n,), generator=gen)]
    steps = [int(s) for s in torch.randint(1, 20, (n,), generator=gen)]
    dcs = [{k: torch.randn(v.shape, generator=gen) for k, v in glob.items()} for _ in range(n)]
    settings = {"scaffold": {"num_clients": 20}, "krum": {"f": 1}}.get(name, {})
    s = make_strategy(name, **settings)
    kw = dict(local_steps=steps, control_deltas=dcs if name == "scaffold" else None)
    whole, st_whole = aggregate_clients(s, glob, deltas, weights, s.init(glob), **kw)
    for chunk in (1, 2, 3):
        part, st_part = aggregate_clients(
            s, glob, deltas, weights, s.init(glob), chunk_size=chunk, **kw
        )
        close(part, whole)
        if st_whole.control is not None:
            close(st_part.control, st_whole.control)


def test_chunk_sums_match_weighted_mean():
    chunks = [
        sum_all([client_sums(d, n) for d, n in zip(D[i : i + 2], N[i : i + 2], strict=True)])
        for i in (0, 2)
    ]
    total = sum_all(chunks)
    assert total.count == 3 and total.weight == sum(N)
    close({k: v / total.weight for k, v in total.delta.items()}, weighted_mean(D, N))


def test_registry_and_errors():
    assert set(STRATEGIES) == {
        "fedavg",
        "fedavgm",
        "fedprox",
        "fedadam",
        "fedyogi",
        "fedadagrad",
        "scaffold",
        "fednova",
        "median",
        "trimmed_mean",
        "krum",
    }
    robust = {
        n
        for n in STRATEGIES
        if make_strategy(n, **({"num_clients": 2} if n == "scaffold" else {})).needs_client_deltas
    }
    assert robust == {"median", "trimmed_mean", "krum"}
    with pytest.raises(ValueError, match="unknown strategy"):
        make_strategy("fedsgd")
    s = make_strategy("fedavg")
    with pytest.raises(ValueError, match="no client results"):
        aggregate_clients(s, G, [], [], s.init(G))
    assert not math.isnan(fednova_normalizer(1, 0.5))
