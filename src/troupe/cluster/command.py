"""`troupe submit`, `troupe jobs ...` and `troupe k8s render`: the cluster subcommands.

    troupe submit --address http://HEAD:8265 [--wait] [--pip REQ]... -- run experiment=NAME ...
    troupe jobs list|status|logs|stop [JOB_ID] [--address ...]
    troupe k8s render experiment=NAME [overrides] [--gpus N] [--image IMG] [--name NAME]

The address defaults to `$RAY_API_SERVER_ADDRESS`, `$RAY_ADDRESS`, then
http://127.0.0.1:8265. Exit codes: 0 done (with `--wait`: the job succeeded), 1 the job
failed or was stopped, 2 bad input (a config key, the address, the token, no such job).
"""

from __future__ import annotations

import argparse
import sys

from troupe.cli import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, _fail

SUBMIT_EPILOG = """examples:
  troupe submit --address http://head:8265 --wait -- run experiment=ensemble debug=smoke
  troupe submit -- run experiment=federated fl.rounds=50 results.dir=/shared/runs
  troupe submit --no-working-dir -- run experiment=ensemble     # the cluster's own troupe
"""


def _address(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--address", default=None,
                        help="the cluster's dashboard, http://HOST:8265 (default: $RAY_API_SERVER_ADDRESS, "
                             "$RAY_ADDRESS, http://127.0.0.1:8265)")


def _command_words(words: list[str]) -> list[str]:
    return words[1:] if words and words[0] == "--" else list(words)


def _check_locally(argv: list[str]) -> None:
    """A `run` command's config composes here first: a bad key is exit 2, nothing submitted."""
    if argv and argv[0] == "troupe":
        argv = argv[1:]
    if argv and argv[0] == "run":
        from troupe.config import load_config

        load_config(argv[1:])


def cmd_submit(args: argparse.Namespace) -> int:
    from troupe.cluster import jobs

    argv = _command_words(args.command)
    env_vars = {}
    for item in args.env:
        key, sep, value = item.partition("=")
        if not sep or not key:
            return _fail(f"--env {item!r}: need KEY=VALUE", EXIT_BAD_INPUT)
        env_vars[key] = value
    try:
        _check_locally(argv)
        address = args.address or jobs.default_address()
        job_id = jobs.submit(
            address, argv,
            working_dir=None if args.no_working_dir else (args.working_dir or "project"),
            pip=args.pip or None, env_vars=env_vars or None, py_executable=args.py_executable,
            submission_id=args.job_id)
        print(f"submitted {job_id} to {address}", file=sys.stderr if args.wait else sys.stdout)
        if not args.wait:
            print(f"follow it: troupe jobs logs {job_id} --follow --address {address}", file=sys.stderr)
            return EXIT_OK
        try:
            state = jobs.follow(address, job_id)
        except KeyboardInterrupt:
            return _fail(f"stopped following; {job_id} keeps running (troupe jobs stop {job_id})", 130)
    except jobs.JobError as exc:
        return _fail(str(exc), EXIT_BAD_INPUT)
    print(f"job {job_id}: {state}", file=sys.stderr)
    return EXIT_OK if state == "SUCCEEDED" else EXIT_FAILED


def cmd_jobs(args: argparse.Namespace) -> int:
    from troupe.cluster import jobs

    action = args.action
    if action != "list" and not args.job_id:
        return _fail(f"jobs {action}: give a JOB_ID (see troupe jobs list)", EXIT_BAD_INPUT)
    try:
        if action == "list":
            for job in jobs.list_jobs(args.address):
                print(f"{job.submission_id or job.job_id}  {str(job.status):9s}  {job.entrypoint}")
        elif action == "status":
            job = jobs.info(args.address, args.job_id)
            message = " ".join((job.message or "").split())
            print(f"{args.job_id}: {job.status}" + (f"  ({message})" if message else ""))
            return EXIT_OK
        elif action == "logs":
            if args.follow:
                state = jobs.follow(args.address, args.job_id)
                return EXIT_OK if state == "SUCCEEDED" else EXIT_FAILED
            sys.stdout.write(jobs.logs(args.address, args.job_id))
        elif action == "stop":
            stopped = jobs.stop(args.address, args.job_id)
            print(f"{args.job_id}: {'stopping' if stopped else 'already finished'}")
    except jobs.JobError as exc:
        return _fail(str(exc), EXIT_BAD_INPUT)
    return EXIT_OK


def render_command(overrides: list[str]) -> str:
    """The `troupe run` line of a RayJob: the user's overrides, results on the shared volume."""
    import shlex

    from troupe.cluster.k8s import RESULTS_MOUNT

    words = list(overrides)
    if not any(w.lstrip("+~").startswith("results.dir=") for w in words):
        words.append(f"results.dir={RESULTS_MOUNT}")
    return shlex.join(["troupe", "run", *words])


def cmd_k8s_render(args: argparse.Namespace) -> int:
    from troupe.cluster import k8s
    from troupe.config import load_config

    command = render_command(args.overrides)
    cfg = load_config(k8s.parse_command(command)[1])  # ConfigError -> exit 2, nothing printed
    name = args.name or f"troupe-{cfg.experiment.replace('_', '-')}"
    try:
        manifest = k8s.render_rayjob(command=command, name=name, gpus=args.gpus,
                                     image=args.image or k8s.DEFAULT_IMAGE,
                                     namespace=args.namespace or k8s.DEFAULT_NAMESPACE,
                                     cpu_workers=args.cpu_workers)
    except ValueError as exc:
        return _fail(str(exc), EXIT_BAD_INPUT)
    try:
        k8s.validate(manifest)
    except FileNotFoundError as exc:
        print(f"troupe: note: not checked against the KubeRay CRD schema ({exc})", file=sys.stderr)
    except ValueError as exc:
        return _fail(str(exc), EXIT_FAILED)
    text = k8s.to_yaml(manifest)
    if args.output:
        with open(args.output, "w") as f:
            f.write(text)
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return EXIT_OK


def register(subparsers) -> None:
    """Add `submit`, `jobs` and `k8s` to the `troupe` command."""
    p = subparsers.add_parser(
        "submit", help="run a troupe command as a Ray job: troupe submit [--wait] -- run experiment=NAME",
        epilog=SUBMIT_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    _address(p)
    p.add_argument("--wait", action="store_true",
                   help="stream the job's logs; exit 0 if it succeeds, 1 if it fails or is stopped")
    p.add_argument("--pip", action="append", default=[], metavar="REQ",
                   help="a requirement to pip-install for the job (repeatable), or one requirements.txt; "
                        "not needed where the cluster's image has troupe")
    p.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                   help="an environment variable of the job's driver and workers (repeatable)")
    p.add_argument("--py-executable", default=None,
                   help="the Python the job's workers run with (e.g. a venv's bin/python on the nodes)")
    p.add_argument("--working-dir", default=None,
                   help="folder uploaded as the job's working dir (default: this project)")
    p.add_argument("--no-working-dir", action="store_true",
                   help="upload nothing: run the troupe installed on the cluster")
    p.add_argument("--job-id", default=None, help="the job's id (default: Ray picks one)")
    p.add_argument("command", nargs=argparse.REMAINDER,
                   help="-- then the troupe command line, e.g. -- run experiment=federated fl.rounds=10")
    p.set_defaults(func=cmd_submit)

    p = subparsers.add_parser("jobs", help="list, inspect, follow or stop Ray jobs")
    p.add_argument("action", choices=("list", "status", "logs", "stop"))
    p.add_argument("job_id", nargs="?", help="the job's id (from troupe submit or troupe jobs list)")
    _address(p)
    p.add_argument("--follow", "-f", action="store_true", help="logs: stream until the job ends")
    p.set_defaults(func=cmd_jobs)

    p = subparsers.add_parser("k8s", help="KubeRay manifests: troupe k8s render experiment=NAME --gpus N")
    k8s_sub = p.add_subparsers(dest="k8s_command", metavar="ACTION", required=True)
    r = k8s_sub.add_parser("render", help="print a RayJob that runs `troupe run OVERRIDES` on KubeRay")
    r.add_argument("overrides", nargs="*", help="Hydra overrides, as for troupe run")
    r.add_argument("--gpus", type=int, default=0, help="GPU worker pods, one GPU each (default 0)")
    r.add_argument("--cpu-workers", type=int, default=1, help="CPU worker pods (default 1)")
    r.add_argument("--image", default=None, help="container image with troupe installed (default troupe:0.1.0)")
    r.add_argument("--name", default=None, help="RayJob name (default troupe-EXPERIMENT)")
    r.add_argument("--namespace", default=None, help="Kubernetes namespace (default troupe)")
    r.add_argument("--output", "-o", default=None, help="write the manifest here instead of stdout")
    r.set_defaults(func=cmd_k8s_render)
