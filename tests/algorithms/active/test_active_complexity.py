"""rho*(theta) against closed forms and a brute-force grid; difficulty-class sampling."""

import math

import torch

from troupe.algorithms.active import (
    Problem,
    complexity,
    project_to_class,
    random_arms_problem,
    rho_star,
    sample_class,
    thresholds_problem,
)


def test_orthonormal_arms_equal_gaps_closed_form():
    # X = Z = I_n, gaps all Delta: lambda_1 = 1/(1+sqrt(n-1)), rho* = (1+sqrt(n-1))^2 / Delta^2.
    n, delta = 5, 0.5
    eye = torch.eye(n, dtype=torch.float64)
    theta = torch.tensor([[1.0] + [1.0 - delta] * (n - 1)], dtype=torch.float64)
    rho, lam = complexity(Problem(eye, eye), theta)
    assert math.isclose(rho.item(), (1 + math.sqrt(n - 1)) ** 2 / delta**2, rel_tol=1e-6)
    assert math.isclose(lam[0, 0].item(), 1 / (1 + math.sqrt(n - 1)), rel_tol=1e-3)


def test_two_arms_closed_form_and_scaling():
    eye = torch.eye(2, dtype=torch.float64)
    theta = torch.tensor([[1.0, 0.2], [0.0, -0.5]], dtype=torch.float64)
    rho = rho_star(Problem(eye, eye), theta)
    gaps = torch.tensor([0.8, 0.5], dtype=torch.float64)
    torch.testing.assert_close(rho, 4 / gaps**2, rtol=1e-6, atol=0)
    torch.testing.assert_close(rho_star(Problem(eye, eye), 3 * theta), rho / 9, rtol=1e-6, atol=0)


def test_three_random_arms_match_a_brute_force_grid():
    problem = random_arms_problem(3, 2, seed=1)
    theta = torch.randn(4, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    rho = rho_star(problem, theta)
    a = torch.linspace(1e-4, 1, 300, dtype=torch.float64)
    lam = torch.stack(torch.meshgrid(a, a, indexing="ij"), -1).reshape(-1, 2)
    lam = lam[lam.sum(1) < 1]
    lam = torch.cat([lam, 1 - lam.sum(1, keepdim=True)], 1)
    gram = torch.einsum("gn,nij->gij", lam, problem.x[:, :, None] * problem.x[:, None, :])
    for j in range(len(theta)):
        star = int((problem.z @ theta[j]).argmax())
        ratios = []
        for k in range(3):
            if k != star:
                y = problem.z[star] - problem.z[k]
                ratios.append((y * torch.linalg.solve(gram, y.expand(len(lam), 2))).sum(-1) / (y @ theta[j]) ** 2)
        brute = torch.stack(ratios).max(0).values.min().item()
        assert brute * (1 - 1e-3) <= rho[j].item() <= brute * 1.02


def test_thresholds_interval_form():
    # X = I: ||z* - z||^2_{A^-1} = sum over the interval of 1/lambda_i; n = 1 point has rho = 1/theta^2.
    problem = thresholds_problem(1)
    theta = torch.tensor([[0.5], [-2.0]], dtype=torch.float64)
    torch.testing.assert_close(rho_star(problem, theta), 1 / theta[:, 0] ** 2, rtol=1e-6, atol=0)


def test_class_sampler_stays_in_class_and_is_seeded():
    problem = thresholds_problem(6)
    draw = lambda: sample_class(problem, 5.0, 64, generator=torch.Generator().manual_seed(3), scale=(0.3, 30.0))  # noqa: E731
    theta, rho = draw()
    assert theta.shape == (64, 6) and bool((rho <= 5.0).all())
    torch.testing.assert_close(rho_star(problem, theta), rho)
    again, _ = draw()
    assert torch.equal(theta, again)


def test_projection_lands_on_the_boundary():
    problem = random_arms_problem(5, 3, seed=0)
    theta = 0.05 * torch.randn(16, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    inside = project_to_class(problem, theta, 4.0)
    rho = rho_star(problem, inside)
    assert bool((rho <= 4.0 * 1.03).all()) and bool((rho >= 4.0 * 0.9).all())
