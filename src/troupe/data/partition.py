"""Split a labelled dataset over simulated clients: seeded lists of example indices.

Schemes:
    iid              a seeded permutation cut into near-equal parts.
    dirichlet        class k's examples split over clients by p ~ Dir(alpha * 1_C)
                     ("Measuring the Effects of Non-Identical Data Distribution for
                     Federated Visual Classification", Hsu, Qi, Brown, 2019).
    dirichlet_prior  as above with p ~ Dir(alpha * K * p_k * 1_C), p_k the class
                     prior ("When Do Curricula Work in Federated Learning?",
                     Vahidian et al., ICCV 2023; their beta is ``alpha`` here).
                     With balanced classes this equals ``dirichlet``.
    pathological     each client holds ``classes_per_client`` classes; a class's
                     examples are split evenly over the clients holding it.
    shards           sort by label, cut into clients * shards_per_client shards,
                     deal them out ("Communication-Efficient Learning of Deep
                     Networks from Decentralized Data", McMahan et al., 2017).
    natural          one client per distinct value of ``client_ids`` (sorted).

Every index goes to exactly one client, each client's indices are sorted, and a
seed gives the same split. Every client gets at least ``min_size`` examples: the
Dirichlet schemes redraw up to ``_DIRICHLET_TRIES`` times, then (like the other
schemes) a deterministic fix-up moves examples, one at a time, from the client
that currently holds the most to those short of ``min_size``. The fix-up may give
a pathological or shard client a class it would not otherwise hold. Natural
partitions are never altered: a too-small natural client is an error.
"""

from __future__ import annotations

import numpy as np

SCHEMES = ("iid", "dirichlet", "dirichlet_prior", "pathological", "shards", "natural")
_DIRICHLET_TRIES = 20


def partition(
    y: np.ndarray,
    *,
    scheme: str,
    clients: int,
    seed: int,
    alpha: float = 0.5,
    classes_per_client: int = 2,
    shards_per_client: int = 2,
    client_ids: np.ndarray | None = None,
    min_size: int = 1,
) -> list[np.ndarray]:
    """Example indices per client, from integer labels ``y``.

    Args:
        y: labels, shape [N].
        scheme: one of ``SCHEMES``.
        clients: number of clients C.
        seed: makes the split deterministic.
        alpha: Dirichlet concentration (``dirichlet``, ``dirichlet_prior``).
        classes_per_client: classes per client (``pathological``).
        shards_per_client: shards per client (``shards``).
        client_ids: owner of each example, shape [N] (``natural``).
        min_size: the fewest examples any client may get.

    Returns:
        C sorted int64 arrays that together hold each of 0..N-1 exactly once.

    Raises:
        ValueError: unknown scheme, bad settings, or a request no split can meet.
    """
    y = np.asarray(y)
    n = len(y)
    if scheme not in SCHEMES:
        raise ValueError(f"unknown partition scheme {scheme!r}; known: {list(SCHEMES)}")
    if clients < 1:
        raise ValueError(f"clients must be >= 1, got {clients}")
    if min_size < 0:
        raise ValueError(f"min_size must be >= 0, got {min_size}")
    if clients * min_size > n:
        raise ValueError(
            f"cannot give {clients} clients at least {min_size} examples each from {n} examples"
        )
    rng = np.random.default_rng(seed)
    if scheme == "natural":
        return _natural(n, clients, client_ids, min_size)
    if scheme == "iid":
        owner = _iid(n, clients, rng)
    elif scheme in ("dirichlet", "dirichlet_prior"):
        if not alpha > 0:
            raise ValueError(f"alpha must be > 0, got {alpha}")
        owner = _dirichlet(y, clients, alpha, scheme == "dirichlet_prior", min_size, rng)
    elif scheme == "pathological":
        owner = _pathological(y, clients, classes_per_client, rng)
    else:
        owner = _shards(y, clients, shards_per_client, rng)
    owner = _fill_to_min_size(owner, clients, min_size, rng)
    return _groups(owner, clients)


def _groups(owner: np.ndarray, clients: int) -> list[np.ndarray]:
    # A stable sort by owner leaves each client's indices in increasing order.
    order = np.argsort(owner, kind="stable").astype(np.int64)
    bounds = np.cumsum(np.bincount(owner, minlength=clients))[:-1]
    return np.split(order, bounds)


def _iid(n: int, clients: int, rng: np.random.Generator) -> np.ndarray:
    sizes = np.full(clients, n // clients)
    sizes[: n % clients] += 1  # the same near-equal sizes as np.array_split
    owner = np.empty(n, dtype=np.int64)
    owner[rng.permutation(n)] = np.repeat(np.arange(clients), sizes)
    return owner


def _class_members(y: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    classes, inverse = np.unique(y, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    bounds = np.cumsum(np.bincount(inverse, minlength=len(classes)))[:-1]
    return classes, np.split(order, bounds)


def _dirichlet_draw(concentration: float, clients: int, rng: np.random.Generator) -> np.ndarray:
    # Gamma draws normalised: numpy's dirichlet returns NaN for very small alpha.
    g = rng.gamma(concentration, size=clients)
    total = g.sum()
    if total == 0:  # every draw underflowed: all mass on one client
        g = np.zeros(clients)
        g[rng.integers(clients)] = 1.0
        total = 1.0
    return g / total


def _dirichlet(
    y: np.ndarray,
    clients: int,
    alpha: float,
    use_prior: bool,
    min_size: int,
    rng: np.random.Generator,
) -> np.ndarray:
    _, members = _class_members(y)
    k = len(members)
    n = len(y)
    owner = np.empty(n, dtype=np.int64)
    for _ in range(_DIRICHLET_TRIES):
        for idx in members:
            conc = alpha * k * len(idx) / n if use_prior else alpha
            p = _dirichlet_draw(conc, clients, rng)
            idx = rng.permutation(idx)
            ends = (np.cumsum(p) * len(idx)).astype(np.int64)
            ends[-1] = len(idx)  # cumsum may round just below 1
            owner[idx] = np.repeat(np.arange(clients), np.diff(ends, prepend=0))
        if np.bincount(owner, minlength=clients).min() >= min_size:
            break
    return owner


def _pathological(
    y: np.ndarray, clients: int, classes_per_client: int, rng: np.random.Generator
) -> np.ndarray:
    classes, members = _class_members(y)
    k = len(classes)
    per = min(classes_per_client, k)
    if per < 1:
        raise ValueError(f"classes_per_client must be >= 1, got {classes_per_client}")
    if clients * per < k:
        raise ValueError(
            f"pathological split leaves classes unassigned: {clients} clients x "
            f"{per} classes < {k} classes"
        )
    # The first k class slots deal every class once (so each is held); the rest
    # are random classes the client does not hold yet.
    first = rng.permutation(k)
    holdings: list[list[int]] = []
    for c in range(clients):
        held: list[int] = []
        for j in range(per):
            slot = c * per + j
            if slot < k:
                held.append(int(first[slot]))
            else:
                free = np.setdiff1d(np.arange(k), held, assume_unique=True)
                held.append(int(rng.choice(free)))
        holdings.append(held)
    holders: list[list[int]] = [[] for _ in range(k)]
    for c, held in enumerate(holdings):
        for cls in held:
            holders[cls].append(c)
    owner = np.empty(len(y), dtype=np.int64)
    for cls, idx in enumerate(members):
        for c, part in zip(
            holders[cls], np.array_split(rng.permutation(idx), len(holders[cls])), strict=True
        ):
            owner[part] = c
    return owner


def _shards(
    y: np.ndarray, clients: int, shards_per_client: int, rng: np.random.Generator
) -> np.ndarray:
    if shards_per_client < 1:
        raise ValueError(f"shards_per_client must be >= 1, got {shards_per_client}")
    # Shuffle before the stable sort so ties within a label are in random order.
    shuffled = rng.permutation(len(y))
    by_label = shuffled[np.argsort(y[shuffled], kind="stable")]
    shards = np.array_split(by_label, clients * shards_per_client)
    deal = rng.permutation(len(shards))
    owner = np.empty(len(y), dtype=np.int64)
    for position, shard in enumerate(deal):
        owner[shards[shard]] = position // shards_per_client
    return owner


def _fill_to_min_size(
    owner: np.ndarray, clients: int, min_size: int, rng: np.random.Generator
) -> np.ndarray:
    """Move examples from the largest clients to those below min_size (water-filling)."""
    sizes = np.bincount(owner, minlength=clients)
    deficit = np.maximum(min_size - sizes, 0)
    need = int(deficit.sum())
    if need == 0:
        return owner
    # Each example a donor could spare gets a "level": the donor's size just before
    # giving it away. Taking the highest levels first is the same as repeatedly
    # taking from whichever client is currently largest, without a Python loop.
    perm = rng.permutation(len(owner))
    donors_of = owner[perm]
    order = np.argsort(donors_of, kind="stable")
    ranked = perm[order]
    donor = donors_of[order]
    start = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    rank_in_donor = np.arange(len(owner)) - start[donor]
    level = sizes[donor] - rank_in_donor
    spare = level > min_size
    cand, cand_level, cand_donor = ranked[spare], level[spare], donor[spare]
    pick = np.lexsort((cand_donor, -cand_level))[:need]
    receivers = np.repeat(np.arange(clients), deficit)
    owner = owner.copy()
    owner[cand[pick]] = receivers
    return owner


def _natural(
    n: int, clients: int, client_ids: np.ndarray | None, min_size: int
) -> list[np.ndarray]:
    if client_ids is None:
        raise ValueError("natural partition needs client_ids (the owner of each example)")
    client_ids = np.asarray(client_ids)
    if len(client_ids) != n:
        raise ValueError(f"client_ids has {len(client_ids)} entries for {n} examples")
    ids, owner = np.unique(client_ids, return_inverse=True)
    if len(ids) != clients:
        raise ValueError(
            f"natural partition: client_ids has {len(ids)} distinct ids, clients={clients}"
        )
    groups = _groups(owner.astype(np.int64), clients)
    smallest = min(len(g) for g in groups)
    if smallest < min_size:
        raise ValueError(
            f"natural partition: a client has {smallest} examples, fewer than min_size={min_size}"
        )
    return groups
