# ruff: noqa: UP006, UP035, UP045, UP007, UP031, FA100, PLW0603, BLE001, RUF100
"""Standalone smoke suite for a PyTorch environment.

This file is executed *by path* with the target environment's interpreter::

    python _smoke.py --out results.jsonl [--gpu auto|yes|no] [--require torch] ...

It must import nothing from torchresolve and must run on every Python and torch a user may still
have (Python 3.6+, torch 1.x and 2.x, numpy 1 and 2). That is why it avoids
``from __future__ import annotations``, built-in generics in annotations and ``X | Y`` (all newer
than Python 3.7), and reaches torch and friends through :func:`importlib.import_module` (they are
not installed where torchresolve is type-checked).

Protocol: the output file receives one JSON object per line, flushed as soon as it is known, so a
crash (a segfault in a CUDA kernel) loses nothing already measured:

* ``{"event": "start", "pid": ..., "python": ...}`` once;
* ``{"event": "begin", "group": NAME}`` before each group of checks;
* ``{"event": "result", "name": ..., "status": "pass"|"fail"|"skip", "reason": ...,
  "seconds": ..., "details": {...}}`` per check;
* ``{"event": "end"}`` when the suite finished.

A caller that sees ``begin`` without the group's results followed by a dead process knows which
group crashed, and can rerun the suite with ``--exclude GROUP`` for the remaining groups.
"""

import argparse
import contextlib
import functools
import importlib
import io
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
import zipfile
from pathlib import Path
from typing import IO, Any, Callable, Dict, Iterator, List, Optional, Tuple

PACKAGES = ("numpy", "torch", "torchvision", "torchaudio", "transformers")

# Relative Frobenius-norm error allowed against a float64 reference, per precision. Unit
# roundoff: float32 6e-8, TF32 4.9e-4 (10-bit mantissa), float16 4.9e-4, bfloat16 3.9e-3; the
# error of a K=512 product of N(0,1) inputs is a few roundoffs, so each bound has ~10x headroom
# while still catching the wrong precision (TF32 silently used for "float32" fails its bound).
TOLERANCES = {"float32": 1e-5, "tf32": 5e-3, "float16": 5e-3, "bfloat16": 3e-2}


class Skip(Exception):
    """The check does not apply here; the message says why."""


class Fail(Exception):
    """The check ran and found a problem; the message says what."""


class Suite:
    """Shared state: the output stream, the options and the lazily imported modules."""

    def __init__(self, out: IO[str], options: argparse.Namespace) -> None:
        self.out = out
        self.options = options
        self.modules = {}  # type: Dict[str, Any]
        self.import_errors = {}  # type: Dict[str, str]
        self.counts = {"pass": 0, "fail": 0, "skip": 0}

    # -- output ------------------------------------------------------------------------------
    def emit(self, event: Dict[str, Any]) -> None:
        self.out.write(json.dumps(event, sort_keys=True, default=str) + "\n")
        self.out.flush()

    def record(
        self, name: str, status: str, reason: str, seconds: float, details: Dict[str, Any]
    ) -> None:
        self.counts[status] += 1
        self.emit(
            {
                "event": "result",
                "name": name,
                "status": status,
                "reason": reason,
                "seconds": round(seconds, 4),
                "details": details,
            }
        )
        sys.stderr.write("%-4s %s (%.2f s): %s\n" % (status.upper(), name, seconds, reason))
        sys.stderr.flush()

    def check(self, name: str, fn: Callable[[Dict[str, Any]], str]) -> None:
        """Run one check; its return value is the pass reason, Skip/Fail/any error the rest."""
        details = {}  # type: Dict[str, Any]
        start = time.perf_counter()
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                reason = fn(details)
            status = "pass"
        except Skip as exc:
            status, reason = "skip", str(exc)
        except Fail as exc:
            status, reason = "fail", str(exc)
        except Exception as exc:
            status, reason = "fail", describe(exc)
            details["traceback"] = traceback.format_exc()[-4000:]
        else:
            notes = sorted({str(w.message).splitlines()[0][:300] for w in caught})
            if notes:
                details["warnings"] = notes
        self.record(name, status, reason, time.perf_counter() - start, details)

    # -- modules -----------------------------------------------------------------------------
    def module(self, name: str) -> Any:
        """The imported module, or :class:`Skip` naming why it is unavailable."""
        if name in self.modules:
            return self.modules[name]
        if name in self.import_errors:
            raise Skip("%s is not importable: %s" % (name, self.import_errors[name]))
        try:
            mod = importlib.import_module(name)
        except Exception as exc:
            self.import_errors[name] = describe(exc)
            raise Skip("%s is not importable: %s" % (name, describe(exc))) from None
        self.modules[name] = mod
        return mod

    @property
    def torch(self) -> Any:
        return self.module("torch")

    @property
    def cuda(self) -> bool:
        try:
            return bool(self.torch.cuda.is_available())
        except Skip:
            return False

    @property
    def device(self) -> str:
        return "cuda" if self.cuda else "cpu"

    def need_cuda(self, what: str) -> None:
        if not self.cuda:
            raise Skip("%s needs a CUDA device; none is available" % what)


def describe(exc: BaseException) -> str:
    """``Type: first line``, followed by the root cause when the error wraps another."""

    def one(e: BaseException) -> str:
        text = str(e).strip().splitlines()
        return "%s: %s" % (type(e).__name__, text[0] if text else "")

    root = exc
    while root.__cause__ is not None and root.__cause__ is not root:
        root = root.__cause__
    text = one(exc) if root is exc else "%s (caused by %s)" % (one(exc), one(root))
    return text[:600]


def dist_version(name: str) -> Optional[str]:
    """The installed distribution's version, or None (works without importlib.metadata)."""
    try:
        from importlib import metadata  # Python 3.8+
    except ImportError:
        try:
            pkg_resources = importlib.import_module("pkg_resources")
            return str(pkg_resources.get_distribution(name).version)
        except Exception:
            return None
    try:
        return str(metadata.version(name))
    except Exception:
        return None


def gpu_expected(option: str) -> bool:
    if option in ("yes", "no"):
        return option == "yes"
    # auto: the NVIDIA kernel driver exposes GPUs here, or the driver's tool is installed.
    gpus = Path("/proc/driver/nvidia/gpus")
    with contextlib.suppress(OSError):
        if gpus.is_dir() and any(gpus.iterdir()):
            return True
    return Path("/dev/nvidia0").exists() or shutil.which("nvidia-smi") is not None


def rel_error(torch: Any, value: Any, reference: Any) -> float:
    value = value.detach().to("cpu", torch.float64)
    return float((value - reference).norm() / reference.norm())


def fresh_generator(torch: Any, details: Dict[str, Any]) -> Any:
    seed = int.from_bytes(os.urandom(6), "little")
    details["seed"] = seed
    gen = torch.Generator()
    gen.manual_seed(seed)
    return gen


def weights_only_refusal(exc: BaseException) -> bool:
    text = str(exc)
    return "weights_only" in text or "Weights only load failed" in text


# -- 1. imports ------------------------------------------------------------------------------
def group_imports(suite: Suite) -> None:
    required = set(suite.options.require)
    for name in PACKAGES:

        def check(details: Dict[str, Any], name: str = name) -> str:
            installed = dist_version(name)
            details["distribution"] = installed
            if installed is None:
                if name in required:
                    raise Fail("%s is required but not installed" % name)
                raise Skip("%s is not installed" % name)
            start = time.perf_counter()
            try:
                mod = importlib.import_module(name)
            except Exception as exc:
                suite.import_errors[name] = describe(exc)
                raise Fail("import %s failed: %s" % (name, describe(exc))) from None
            suite.modules[name] = mod
            seconds = time.perf_counter() - start
            version = str(getattr(mod, "__version__", installed))
            details["version"] = version
            details["file"] = str(getattr(mod, "__file__", ""))
            details["import_seconds"] = round(seconds, 3)
            if version.split("+", 1)[0] != installed.split("+", 1)[0]:
                raise Fail(
                    "%s imports as %s from %s but distribution %s is installed (shadowed?)"
                    % (name, version, details["file"], installed)
                )
            return "%s %s (import %.2f s)" % (name, version, seconds)

        suite.check("imports.%s" % name, check)


# -- 2. device -------------------------------------------------------------------------------
_ARCH = re.compile(r"^(sm|compute)_(\d+)([a-z]?)$")


def parse_arch(text: str) -> Optional[Tuple[str, int, int, str]]:
    match = _ARCH.match(text)
    if not match:
        return None
    number = int(match.group(2))
    return match.group(1), number // 10, number % 10, match.group(3)


def kernels_for(arch_list: List[str], major: int, minor: int) -> Tuple[str, str]:
    """("sass"|"ptx"|"", the list entry) for a device of compute capability major.minor."""
    parsed = [(entry, parse_arch(entry)) for entry in arch_list]
    for entry, arch in parsed:
        # Binary (SASS) code runs on the same major version with an equal or higher minor;
        # "a"/"f" arch-specific variants run only on exactly that architecture.
        same_major = arch is not None and arch[0] == "sm" and arch[1] == major
        if arch and same_major and ((arch[3] == "" and arch[2] <= minor) or arch[2] == minor):
            return "sass", entry
    for entry, arch in parsed:
        if arch and arch[0] == "compute" and arch[3] == "" and (arch[1], arch[2]) <= (major, minor):
            return "ptx", entry
    return "", ""


def group_device(suite: Suite) -> None:
    expected = gpu_expected(suite.options.gpu)

    def cuda(details: Dict[str, Any]) -> str:
        torch = suite.torch
        details["gpu_expected"] = expected
        details["torch_cuda"] = torch.version.cuda
        if torch.cuda.is_available():
            count = torch.cuda.device_count()
            names = [torch.cuda.get_device_name(i) for i in range(count)]
            details["devices"] = names
            for i in range(count):
                value = (torch.ones(4, device="cuda:%d" % i) * 2).sum().item()
                if value != 8:
                    raise Fail("a trivial kernel on cuda:%d returned %r, not 8" % (i, value))
            return "%d device(s): %s; torch built for CUDA %s" % (
                count,
                ", ".join(names),
                torch.version.cuda,
            )
        if not expected:
            raise Skip("no GPU expected here and torch sees none")
        if torch.version.cuda is None:
            raise Fail("a GPU is expected but torch %s is a CPU-only build" % torch.__version__)
        problem = ""
        try:
            torch.cuda.init()
        except Exception as exc:
            problem = ": " + describe(exc)
        raise Fail(
            "a GPU is expected but torch (CUDA %s) sees no usable device%s"
            % (torch.version.cuda, problem)
        )

    def arch(details: Dict[str, Any]) -> str:
        torch = suite.torch
        suite.need_cuda("the architecture check")
        if not hasattr(torch.cuda, "get_arch_list"):
            raise Skip("torch %s cannot list its GPU architectures" % torch.__version__)
        arch_list = [str(a) for a in torch.cuda.get_arch_list()]
        details["arch_list"] = arch_list
        verdicts = []
        for i in range(torch.cuda.device_count()):
            major, minor = torch.cuda.get_device_capability(i)
            kind, entry = kernels_for(arch_list, major, minor)
            sm = "sm_%d%d" % (major, minor)
            details["cuda:%d" % i] = {"capability": sm, "kernels": kind or None, "from": entry}
            if not kind:
                raise Fail(
                    "cuda:%d is %s but torch %s ships kernels for %s only"
                    % (i, sm, torch.__version__, " ".join(arch_list))
                )
            verdicts.append(
                "cuda:%d %s: %s"
                % (i, sm, "native code" if kind == "sass" else "PTX JIT from " + entry)
            )
        return "; ".join(verdicts)

    def cudnn(details: Dict[str, Any]) -> str:
        torch = suite.torch
        suite.need_cuda("cuDNN")
        if not torch.backends.cudnn.is_available():
            raise Fail("torch reports cuDNN unavailable")
        version = torch.backends.cudnn.version()
        details["cudnn"] = version
        gen = fresh_generator(torch, details)
        x = torch.randn(2, 3, 16, 16, generator=gen)
        w = torch.randn(4, 3, 3, 3, generator=gen)
        ref = torch.nn.functional.conv2d(x.double(), w.double(), padding=1)
        got = torch.nn.functional.conv2d(x.cuda(), w.cuda(), padding=1)
        err = rel_error(torch, got, ref)
        details["conv2d_rel_error"] = err
        # cuDNN may use TF32 for convolutions by default (torch >= 1.7).
        if not err <= TOLERANCES["tf32"]:
            raise Fail("cuDNN conv2d differs from the float64 reference: rel err %.3g" % err)
        return "cuDNN %s; conv2d rel err %.2g" % (version, err)

    def nccl(details: Dict[str, Any]) -> str:
        torch = suite.torch
        suite.need_cuda("NCCL")
        try:
            version = torch.cuda.nccl.version()
        except Exception as exc:
            raise Fail("torch.cuda.nccl.version() failed: %s" % describe(exc)) from None
        if isinstance(version, int):  # older torch: 2708 means 2.7.8
            version = (version // 1000, version // 100 % 10, version % 100)
        text = ".".join(str(part) for part in version)
        details["nccl"] = text
        return "NCCL %s" % text

    suite.check("device.cuda", cuda)
    suite.check("device.arch", arch)
    suite.check("device.cudnn", cudnn)
    suite.check("device.nccl", nccl)


# -- 3. numerics -----------------------------------------------------------------------------
@contextlib.contextmanager
def matmul_precision(torch: Any, precision: str) -> Iterator[None]:
    """Set float32 matmul precision ("highest" = IEEE float32, "high" = TF32), then restore."""
    setter = getattr(torch, "set_float32_matmul_precision", None)  # torch >= 1.12
    if setter is not None:
        before = torch.get_float32_matmul_precision()
        setter(precision)
        try:
            yield
        finally:
            setter(before)
        return
    flags = torch.backends.cuda.matmul
    before_flag = getattr(flags, "allow_tf32", False)
    with contextlib.suppress(AttributeError):
        flags.allow_tf32 = precision != "highest"
    try:
        yield
    finally:
        with contextlib.suppress(AttributeError):
            flags.allow_tf32 = before_flag


def group_numerics(suite: Suite) -> None:
    torch = suite.torch
    device = suite.device
    size = 512 if device == "cuda" else 256

    def run(precision: str, details: Dict[str, Any]) -> str:
        gen = fresh_generator(torch, details)
        a = torch.randn(size, size, generator=gen, dtype=torch.float64)
        b = torch.randn(size, size, generator=gen, dtype=torch.float64)
        reference = a @ b
        if precision in ("float32", "tf32"):
            with matmul_precision(torch, "highest" if precision == "float32" else "high"):
                got = a.float().to(device) @ b.float().to(device)
        else:
            dtype = getattr(torch, precision)
            try:
                got = a.to(device, dtype) @ b.to(device, dtype)
            except RuntimeError as exc:
                if device == "cpu" and "not implemented" in str(exc):
                    raise Skip(
                        "%s matmul is not implemented on CPU in torch %s"
                        % (precision, torch.__version__)
                    ) from None
                raise
        if device == "cuda":
            torch.cuda.synchronize()
        err = rel_error(torch, got, reference)
        bound = TOLERANCES[precision]
        details.update({"device": device, "size": size, "rel_error": err, "tolerance": bound})
        if not (math.isfinite(err) and err <= bound):
            raise Fail(
                "%s matmul on %s: rel err %.3g exceeds %.1g" % (precision, device, err, bound)
            )
        return "%s matmul on %s: rel err %.2g <= %.0g" % (precision, device, err, bound)

    def tf32(details: Dict[str, Any]) -> str:
        suite.need_cuda("TF32")
        major, _ = torch.cuda.get_device_capability()
        if major < 8:
            raise Skip("TF32 needs compute capability 8.0 or newer")
        return run("tf32", details)

    def half(details: Dict[str, Any]) -> str:
        suite.need_cuda("the float16 matmul check")
        return run("float16", details)

    suite.check("numerics.float32", lambda d: run("float32", d))
    suite.check("numerics.tf32", tf32)
    suite.check("numerics.bfloat16", lambda d: run("bfloat16", d))
    suite.check("numerics.float16", half)


# -- 4. AMP ----------------------------------------------------------------------------------
def autocast(torch: Any, device: str, dtype: Any) -> Any:
    if hasattr(torch, "autocast"):  # torch >= 1.10
        return torch.autocast(device_type=device, dtype=dtype)
    if device == "cuda" and dtype is torch.float16 and hasattr(torch.cuda, "amp"):
        return torch.cuda.amp.autocast()
    raise Skip("torch %s has no autocast for %s/%s" % (torch.__version__, device, dtype))


def grad_scaler(torch: Any) -> Any:
    amp = getattr(torch, "amp", None)
    if amp is not None and hasattr(amp, "GradScaler"):  # torch >= 2.3
        return amp.GradScaler("cuda")
    return torch.cuda.amp.GradScaler()


def group_amp(suite: Suite) -> None:
    torch = suite.torch

    def train(dtype_name: str, details: Dict[str, Any]) -> str:
        device = suite.device
        if dtype_name == "float16":
            suite.need_cuda("float16 AMP with GradScaler")
        dtype = getattr(torch, dtype_name)
        gen = fresh_generator(torch, details)
        torch.manual_seed(details["seed"])
        x = torch.randn(128, 32, generator=gen).to(device)
        true_w = torch.randn(32, 1, generator=gen).to(device)
        y = x @ true_w + 0.01 * torch.randn(128, 1, generator=gen).to(device)
        model = torch.nn.Sequential(
            torch.nn.Linear(32, 64), torch.nn.ReLU(), torch.nn.Linear(64, 1)
        ).to(device)
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        scaler = grad_scaler(torch) if dtype_name == "float16" else None
        losses = []
        for _ in range(40):
            opt.zero_grad()
            with autocast(torch, device, dtype):
                out = model(x)
                if out.dtype != dtype:
                    raise Fail("autocast did not run the Linear layer in %s" % dtype_name)
                loss = torch.nn.functional.mse_loss(out.float(), y)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
            else:
                loss.backward()
                opt.step()
            losses.append(float(loss.item()))
        details["losses"] = [round(v, 5) for v in losses[:3] + losses[-3:]]
        if scaler is not None:
            details["final_scale"] = float(scaler.get_scale())
        if not all(math.isfinite(v) for v in losses):
            raise Fail("non-finite loss during %s AMP training: %r" % (dtype_name, losses))
        first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
        if not last < 0.5 * first:
            raise Fail("loss did not go down: first %.4g, last %.4g" % (first, last))
        with_scaler = " with GradScaler" if scaler is not None else ""
        return "%s autocast on %s%s: loss %.3g -> %.3g" % (
            dtype_name,
            device,
            with_scaler,
            first,
            last,
        )

    suite.check("amp.float16", lambda d: train("float16", d))
    suite.check("amp.bfloat16", lambda d: train("bfloat16", d))


# -- 5. DDP ----------------------------------------------------------------------------------
def ddp_step(torch: Any, rank: int, world: int, device: str) -> Dict[str, Any]:
    """All-reduce and one DDP training step in an initialised process group."""
    dist = torch.distributed
    t = torch.full((8,), float(rank + 1), device=device)
    dist.all_reduce(t)
    expected = world * (world + 1) / 2
    ok_reduce = bool((t == expected).all().item())
    torch.manual_seed(0)  # identical initial weights on every rank
    model = torch.nn.Linear(8, 2).to(device)
    ids = [torch.cuda.current_device()] if device == "cuda" else None
    ddp = torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)
    opt = torch.optim.SGD(ddp.parameters(), lr=0.1)
    gen = torch.Generator()
    gen.manual_seed(1000 + rank)  # different data per rank; DDP averages the gradients
    x = torch.randn(4, 8, generator=gen).to(device)
    ddp(x).sum().backward()
    opt.step()
    checksum = torch.stack([p.detach().double().sum() for p in model.parameters()]).sum()
    gathered = checksum.clone()
    dist.all_reduce(gathered)
    in_sync = abs(float(gathered.item()) - world * float(checksum.item())) < 1e-6 * (
        1 + abs(float(gathered.item()))
    )
    return {"all_reduce": ok_reduce, "in_sync": in_sync, "value": float(t[0].item())}


def ddp_worker(options: argparse.Namespace) -> int:
    torch = importlib.import_module("torch")
    rank, world = options.ddp_rank, options.ddp_world
    backend = options.ddp_backend
    device = "cuda" if backend == "nccl" else "cpu"
    if device == "cuda":
        torch.cuda.set_device(rank)
    torch.distributed.init_process_group(
        backend, init_method=options.ddp_init, rank=rank, world_size=world
    )
    try:
        result = ddp_step(torch, rank, world, device)
        # Every rank is done communicating before any tears down: a rank whose peer closed
        # its connections while it was still in the last collective aborted ("terminate called
        # without an active exception") now and then on a loaded machine.
        torch.distributed.barrier()
    finally:
        torch.distributed.destroy_process_group()
    Path(options.ddp_result).write_text(json.dumps(result))
    return 0


def group_ddp(suite: Suite) -> None:
    torch = suite.torch

    def available() -> None:
        if not (hasattr(torch, "distributed") and torch.distributed.is_available()):
            raise Skip("torch.distributed is not available in this build")

    def single(details: Dict[str, Any]) -> str:
        available()
        backend = "nccl" if suite.cuda else "gloo"
        details["backend"] = backend
        folder = tempfile.mkdtemp(prefix="torchresolve-ddp-")
        try:
            if suite.cuda:
                torch.cuda.set_device(0)
            init = Path(folder, "init").as_uri()
            torch.distributed.init_process_group(backend, init_method=init, rank=0, world_size=1)
            try:
                result = ddp_step(torch, 0, 1, suite.device)
            finally:
                torch.distributed.destroy_process_group()
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        details.update(result)
        if not result["all_reduce"]:
            raise Fail("all_reduce over %s returned %r, expected 1.0" % (backend, result["value"]))
        if not result["in_sync"]:
            raise Fail("DDP parameters are not in sync after one step")
        return "one process, %s: all_reduce and a DDP step correct" % backend

    def multi(details: Dict[str, Any]) -> str:
        available()
        world = suite.options.ddp_world
        if suite.cuda:
            gpus = torch.cuda.device_count()
            if gpus < 2:
                raise Skip("two processes need two visible GPUs; %d visible" % gpus)
            world, backend = min(gpus, max(world, 2)), "nccl"
        elif world > 1:
            backend = "gloo"
        else:
            raise Skip("two processes need two visible GPUs; none visible")
        details.update({"backend": backend, "world_size": world})
        folder = tempfile.mkdtemp(prefix="torchresolve-ddp-")
        try:
            init = Path(folder, "init").as_uri()
            procs = []
            for rank in range(world):
                argv = [
                    sys.executable, str(Path(__file__).resolve()), "--ddp-worker",
                    "--ddp-rank", str(rank), "--ddp-world", str(world),
                    "--ddp-backend", backend, "--ddp-init", init,
                    "--ddp-result", str(Path(folder, "rank%d.json" % rank)),
                ]  # fmt: skip
                procs.append(
                    subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
                )
            outputs = []
            for proc in procs:
                try:
                    out, _ = proc.communicate(timeout=suite.options.ddp_timeout)
                except subprocess.TimeoutExpired:
                    for other in procs:
                        other.kill()
                    raise Fail(
                        "%d-process DDP timed out after %d s" % (world, suite.options.ddp_timeout)
                    ) from None
                outputs.append(out.decode("utf-8", "replace"))
            results = []
            for rank, proc in enumerate(procs):
                path = Path(folder, "rank%d.json" % rank)
                if proc.returncode != 0 or not path.exists():
                    tail = outputs[rank].strip().splitlines()[-3:]
                    raise Fail(
                        "rank %d exited with %s: %s" % (rank, proc.returncode, " | ".join(tail))
                    )
                results.append(json.loads(path.read_text()))
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        details["ranks"] = results
        if not all(r["all_reduce"] for r in results):
            raise Fail("all_reduce across %d processes gave %r" % (world, results))
        if not all(r["in_sync"] for r in results):
            raise Fail("DDP parameters differ across %d processes after one step" % world)
        return "%d processes, %s: all_reduce and a DDP step correct" % (world, backend)

    suite.check("ddp.single_process", single)
    suite.check("ddp.multi_process", multi)


# -- 6. checkpoints --------------------------------------------------------------------------
_TINY_NET = {}  # type: Dict[str, Any]


def make_tiny_net(torch: Any) -> Any:
    """A small module whose class is a module-level name, so a pickled instance can load."""
    if "class" not in _TINY_NET:

        class TinyNet(torch.nn.Module):  # type: ignore[misc]
            def __init__(self) -> None:
                super().__init__()
                self.conv = torch.nn.Conv2d(3, 4, 3)
                self.bn = torch.nn.BatchNorm2d(4)
                self.fc = torch.nn.Linear(4, 2)

            def forward(self, x: Any) -> Any:
                return self.fc(self.bn(self.conv(x)).mean(dim=(2, 3)))

        # pickle stores module + qualified name and finds the class again by that name.
        TinyNet.__qualname__ = "TinyNet"
        globals()["TinyNet"] = TinyNet
        _TINY_NET["class"] = TinyNet
    return _TINY_NET["class"]()


def same_state(torch: Any, a: Dict[str, Any], b: Dict[str, Any]) -> bool:
    return set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in a)


def describe_loaded(torch: Any, obj: Any) -> str:
    if isinstance(obj, dict):
        tensors = sum(1 for v in obj.values() if isinstance(v, torch.Tensor))
        keys = ", ".join(str(k) for k in list(obj)[:4])
        return "dict of %d entries (%d tensors; keys %s%s)" % (
            len(obj),
            tensors,
            keys,
            ", ..." if len(obj) > 4 else "",
        )
    return type(obj).__module__ + "." + type(obj).__name__


def torch_load(torch: Any, source: Any, **kwargs: Any) -> Any:
    if hasattr(source, "seek"):
        source.seek(0)
    return torch.load(source, map_location="cpu", **kwargs)


def group_checkpoints(suite: Suite) -> None:
    torch = suite.torch

    def roundtrip(legacy: bool, details: Dict[str, Any]) -> str:
        model = make_tiny_net(torch)
        state = model.state_dict()
        buffer = io.BytesIO()
        if legacy:
            try:
                torch.save(state, buffer, _use_new_zipfile_serialization=False)
            except TypeError:  # torch < 1.6 writes the legacy format by default
                torch.save(state, buffer)
        else:
            torch.save(state, buffer)
        buffer.seek(0)
        is_zip = zipfile.is_zipfile(buffer)
        details["zip"] = is_zip
        if is_zip == legacy:
            raise Fail("torch.save wrote the %s format" % ("zip" if is_zip else "legacy"))
        loaded = torch_load(torch, buffer)
        if not same_state(torch, state, loaded):
            raise Fail("the loaded state_dict differs from the saved one")
        fresh = make_tiny_net(torch)
        fresh.load_state_dict(loaded)
        return "%s state_dict round trip exact (%d bytes)" % (
            "legacy" if legacy else "zip",
            len(buffer.getvalue()),
        )

    def whole_module(details: Dict[str, Any]) -> str:
        model = make_tiny_net(torch)
        buffer = io.BytesIO()
        torch.save(model, buffer)
        try:
            loaded = torch_load(torch, buffer)
            details["weights_only_default"] = False
            how = "loads with the default torch.load"
        except Exception as exc:
            if not weights_only_refusal(exc):
                raise
            details["weights_only_default"] = True
            details["default_error"] = describe(exc)
            loaded = torch_load(torch, buffer, weights_only=False)
            how = (
                "torch %s defaults to torch.load(weights_only=True), which refuses a whole "
                "pickled module; it loads with weights_only=False (trusted files only)"
                % torch.__version__
            )
        if not same_state(torch, model.state_dict(), loaded.state_dict()):
            raise Fail("the unpickled module's weights differ")
        return how

    def user_file(path: Path, details: Dict[str, Any]) -> str:
        details["path"] = str(path)
        if not path.exists():
            raise Fail("%s does not exist" % path)
        if path.suffix == ".safetensors":
            st = suite.module("safetensors.torch")
            loaded = st.load_file(str(path))
            return "safetensors: %s" % describe_loaded(torch, loaded)
        try:
            loaded = torch.load(str(path), map_location="cpu")
            details["weights_only"] = "default"
            return "loads with the default torch.load: %s" % describe_loaded(torch, loaded)
        except Exception as exc:
            if not weights_only_refusal(exc):
                raise Fail("torch.load failed: %s" % describe(exc)) from None
            details["default_error"] = describe(exc)
        loaded = torch.load(str(path), map_location="cpu", weights_only=False)
        details["weights_only"] = False
        return (
            "refused by the default torch.load (weights_only=True); loads with "
            "weights_only=False (runs pickled code: trusted files only): %s"
            % describe_loaded(torch, loaded)
        )

    suite.check("checkpoint.zip", lambda d: roundtrip(False, d))
    suite.check("checkpoint.legacy", lambda d: roundtrip(True, d))
    suite.check("checkpoint.whole_module", whole_module)
    for raw in suite.options.checkpoint:
        path = Path(raw)
        suite.check("checkpoint.user:%s" % path.name, functools.partial(user_file, path))


def not_installed(package: str) -> Callable[[Dict[str, Any]], str]:
    def check(details: Dict[str, Any]) -> str:
        raise Skip("%s is not installed" % package)

    return check


# -- 7. torchvision --------------------------------------------------------------------------
def reference_nms(boxes: List[List[float]], scores: List[float], threshold: float) -> List[int]:
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    keep = []  # type: List[int]
    for i in order:
        x1, y1, x2, y2 = boxes[i]
        area_i = (x2 - x1) * (y2 - y1)
        suppressed = False
        for j in keep:
            a1, b1, a2, b2 = boxes[j]
            w = max(0.0, min(x2, a2) - max(x1, a1))
            h = max(0.0, min(y2, b2) - max(y1, b1))
            inter = w * h
            union = area_i + (a2 - a1) * (b2 - b1) - inter
            if union > 0 and inter / union > threshold:
                suppressed = True
                break
        if not suppressed:
            keep.append(i)
    return keep


def group_torchvision(suite: Suite) -> None:
    torch = suite.torch
    if dist_version("torchvision") is None:
        for name in ("torchvision.nms", "torchvision.roi_align", "torchvision.resnet"):
            suite.check(name, not_installed("torchvision"))
        return

    def nms(details: Dict[str, Any]) -> str:
        ops = suite.module("torchvision").ops
        gen = fresh_generator(torch, details)
        xy = torch.rand(300, 2, generator=gen) * 100
        wh = torch.rand(300, 2, generator=gen) * 30 + 1
        boxes = torch.cat([xy, xy + wh], dim=1)
        scores = torch.rand(300, generator=gen)
        expected = reference_nms(boxes.double().tolist(), scores.double().tolist(), 0.5)
        cpu = ops.nms(boxes, scores, 0.5).tolist()
        details["kept"] = len(cpu)
        if cpu != expected:
            raise Fail(
                "nms on cpu keeps %d boxes; the reference keeps %d" % (len(cpu), len(expected))
            )
        if not suite.cuda:
            return "nms on cpu equals a reference implementation (%d of 300 kept)" % len(cpu)
        got = ops.nms(boxes.cuda(), scores.cuda(), 0.5).cpu().tolist()
        if got != cpu:
            raise Fail("nms on cuda keeps %d boxes, on cpu %d" % (len(got), len(cpu)))
        return "nms on cuda equals cpu and a reference (%d of 300 kept)" % len(cpu)

    def roi_align(details: Dict[str, Any]) -> str:
        ops = suite.module("torchvision").ops
        # On f(x, y) = x + 2y bilinear sampling is exact, so each output bin equals f at the
        # bin centre (aligned=True shifts the grid by half a pixel): an exact reference.
        ys, xs = torch.meshgrid(torch.arange(16.0), torch.arange(16.0))
        image = (xs + 2 * ys).expand(1, 2, 16, 16).contiguous()
        rois = torch.tensor([[0, 2.0, 3.0, 10.0, 11.0], [0, 4.0, 1.0, 8.0, 13.0]])
        out_size = 4
        expected = torch.empty(2, 2, out_size, out_size)
        for k in range(2):
            x1, y1, x2, y2 = rois[k, 1:].tolist()
            bw, bh = (x2 - x1) / out_size, (y2 - y1) / out_size
            for i in range(out_size):
                for j in range(out_size):
                    cx = x1 - 0.5 + (j + 0.5) * bw
                    cy = y1 - 0.5 + (i + 0.5) * bh
                    expected[k, :, i, j] = cx + 2 * cy
        cpu = ops.roi_align(image, rois, out_size, 1.0, 2, True)
        err = float((cpu - expected).abs().max())
        details["cpu_max_error"] = err
        if err > 1e-4:
            raise Fail("roi_align on cpu is off the exact reference by %.3g" % err)
        if not suite.cuda:
            return "roi_align on cpu equals the exact reference (max err %.2g)" % err
        got = ops.roi_align(image.cuda(), rois.cuda(), out_size, 1.0, 2, True).cpu()
        diff = float((got - cpu).abs().max())
        details["cuda_cpu_max_diff"] = diff
        if diff > 1e-4:
            raise Fail("roi_align on cuda differs from cpu by %.3g" % diff)
        return "roi_align on cuda equals cpu (max diff %.2g) and the exact reference" % diff

    def resnet(details: Dict[str, Any]) -> str:
        models = suite.module("torchvision.models")
        try:
            model = models.resnet18(weights=None, num_classes=10)
        except TypeError:  # torchvision < 0.13
            model = models.resnet18(pretrained=False, num_classes=10)
        model.eval()
        gen = fresh_generator(torch, details)
        x = torch.randn(2, 3, 64, 64, generator=gen)
        with torch.no_grad():
            cpu = model(x)
            if tuple(cpu.shape) != (2, 10) or not bool(torch.isfinite(cpu).all()):
                raise Fail(
                    "resnet18 forward on cpu gave shape %s or non-finite values"
                    % (tuple(cpu.shape),)
                )
            if not suite.cuda:
                return "resnet18 forward on cpu: finite logits of shape (2, 10)"
            got = model.cuda()(x.cuda())
        err = rel_error(torch, got, cpu.double())
        details["rel_error_vs_cpu"] = err
        if not err <= 1e-2:  # cuDNN may run the convolutions in TF32
            raise Fail("resnet18 on cuda differs from cpu: rel err %.3g" % err)
        return "resnet18 forward on cuda matches cpu (rel err %.2g)" % err

    suite.check("torchvision.nms", nms)
    suite.check("torchvision.roi_align", roi_align)
    suite.check("torchvision.resnet", resnet)


# -- 8. torchaudio ---------------------------------------------------------------------------
def group_torchaudio(suite: Suite) -> None:
    def spectrogram(details: Dict[str, Any]) -> str:
        if dist_version("torchaudio") is None:
            raise Skip("torchaudio is not installed")
        torch = suite.torch
        transforms = suite.module("torchaudio.transforms")
        gen = fresh_generator(torch, details)
        wave = torch.randn(1, 16000, generator=gen)
        got = transforms.Spectrogram(n_fft=400).to(suite.device)(wave.to(suite.device))
        # torchaudio's defaults: hann window, hop n_fft // 2, centre with reflect padding, power 2.
        window = torch.hann_window(400, dtype=torch.float64)
        stft_args = {
            "hop_length": 200, "win_length": 400, "window": window, "center": True,
            "pad_mode": "reflect", "normalized": False, "onesided": True,
        }  # fmt: skip
        try:
            reference = torch.stft(wave.double(), 400, return_complex=True, **stft_args).abs() ** 2
        except TypeError:  # torch < 1.7: real tensor with a trailing (re, im) dimension
            reference = (torch.stft(wave.double(), 400, **stft_args) ** 2).sum(-1)
        if tuple(got.shape) != tuple(reference.shape):
            raise Fail(
                "spectrogram shape %s, expected %s" % (tuple(got.shape), tuple(reference.shape))
            )
        err = rel_error(torch, got, reference)
        details["rel_error"] = err
        if not err <= 1e-4:
            raise Fail("spectrogram on %s: rel err %.3g vs float64 stft" % (suite.device, err))
        return "spectrogram on %s matches a float64 stft (rel err %.2g)" % (suite.device, err)

    suite.check("torchaudio.spectrogram", spectrogram)


# -- 9. transformers -------------------------------------------------------------------------
def group_transformers(suite: Suite) -> None:
    installed = dist_version("transformers") is not None

    def build(kind: str) -> Any:
        tf = suite.module("transformers")
        if kind == "bert":
            config = tf.BertConfig(
                vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                intermediate_size=37, max_position_embeddings=64,
            )  # fmt: skip
            return tf.BertForMaskedLM(config)
        config = tf.GPT2Config(
            vocab_size=99, n_embd=32, n_layer=2, n_head=2, n_positions=64, bos_token_id=1,
            eos_token_id=2,
        )  # fmt: skip
        return tf.GPT2LMHeadModel(config)

    def train(kind: str, details: Dict[str, Any]) -> str:
        if not installed:
            raise Skip("transformers is not installed")
        torch = suite.torch
        model = build(kind).to(suite.device)
        gen = fresh_generator(torch, details)
        ids = torch.randint(0, 99, (2, 16), generator=gen).to(suite.device)
        logits = model(input_ids=ids)[0]
        if tuple(logits.shape) != (2, 16, 99):
            raise Fail("%s logits have shape %s" % (kind, tuple(logits.shape)))
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 99), ids.reshape(-1))
        loss.backward()
        grads = [p.grad for p in model.parameters() if p.requires_grad]
        missing = sum(1 for g in grads if g is None)
        finite = all(bool(torch.isfinite(g).all()) for g in grads if g is not None)
        details.update({"loss": float(loss.item()), "params_without_grad": missing})
        if not math.isfinite(float(loss.item())) or not finite:
            raise Fail("%s produced a non-finite loss or gradient" % kind)
        if missing == len(grads):
            raise Fail("%s backward produced no gradients" % kind)
        return "tiny %s forward and backward on %s (loss %.3g)" % (kind, suite.device, loss.item())

    def save_load(details: Dict[str, Any]) -> str:
        if not installed:
            raise Skip("transformers is not installed")
        torch = suite.torch
        tf = suite.module("transformers")
        model = build("bert").eval()
        folder = tempfile.mkdtemp(prefix="torchresolve-hf-")
        try:
            model.save_pretrained(folder)
            files = sorted(p.name for p in Path(folder).iterdir())
            details["files"] = files
            loaded = tf.BertForMaskedLM.from_pretrained(folder).eval()
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        ids = torch.randint(0, 99, (2, 16), generator=fresh_generator(torch, details))
        with torch.no_grad():
            a, b = model(input_ids=ids)[0], loaded(input_ids=ids)[0]
        if not torch.equal(a, b):
            raise Fail("the reloaded model's output differs: max diff %.3g" % (a - b).abs().max())
        return "save_pretrained/from_pretrained round trip exact (%s)" % ", ".join(files)

    suite.check("transformers.bert", lambda d: train("bert", d))
    suite.check("transformers.gpt2", lambda d: train("gpt2", d))
    suite.check("transformers.save_load", save_load)


# -- 10. numpy interop -----------------------------------------------------------------------
def group_numpy(suite: Suite) -> None:
    def interop(details: Dict[str, Any]) -> str:
        np = suite.module("numpy")
        torch = suite.torch
        details["numpy"] = np.__version__
        try:
            a = np.arange(12, dtype=np.float32).reshape(3, 4)
            t = torch.from_numpy(a)
            a[0, 0] = 100.0
            if float(t[0, 0]) != 100.0 or float(t.sum()) != 166.0:
                raise Fail("torch.from_numpy does not share memory with the array")
            back = torch.arange(6, dtype=torch.float64).reshape(2, 3)
            n = back.numpy()
            if n.dtype != np.float64 or n.tolist() != back.tolist():
                raise Fail("Tensor.numpy() gave %r" % (n,))
            if torch.as_tensor(np.array([1, 2], dtype=np.int64)).dtype != torch.int64:
                raise Fail("torch.as_tensor lost the int64 dtype")
            if float(torch.tensor(np.float64(1.5))) != 1.5:
                raise Fail("torch.tensor(np.float64) is wrong")
            if suite.cuda and torch.from_numpy(a).cuda().cpu().numpy().tolist() != a.tolist():
                raise Fail("numpy -> cuda -> numpy changed values")
        except (RuntimeError, TypeError, ValueError, ImportError) as exc:
            hint = ""
            if np.__version__.split(".")[0] >= "2" and (
                "Numpy is not available" in str(exc) or "_ARRAY_API" in str(exc)
            ):
                hint = " (torch %s was built against numpy 1.x; pin numpy<2)" % torch.__version__
            raise Fail("numpy interop failed: %s%s" % (describe(exc), hint)) from None
        return "numpy %s <-> torch %s both ways%s" % (
            np.__version__,
            torch.__version__,
            " and via cuda" if suite.cuda else "",
        )

    suite.check("numpy.interop", interop)


GROUPS = (
    ("imports", group_imports),
    ("device", group_device),
    ("numerics", group_numerics),
    ("amp", group_amp),
    ("ddp", group_ddp),
    ("checkpoints", group_checkpoints),
    ("torchvision", group_torchvision),
    ("torchaudio", group_torchaudio),
    ("transformers", group_transformers),
    ("numpy", group_numpy),
)  # type: Tuple[Tuple[str, Callable[[Suite], None]], ...]


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="PyTorch environment smoke suite")
    parser.add_argument("--out", help="JSON-lines result file (default: stdout)")
    parser.add_argument("--gpu", choices=("auto", "yes", "no"), default="auto")
    parser.add_argument("--require", action="append", default=[], help="package that must import")
    parser.add_argument("--checkpoint", action="append", default=[], help="a file to torch.load")
    parser.add_argument("--exclude", action="append", default=[], help="skip a group")
    parser.add_argument("--only", action="append", default=[], help="run only these groups")
    parser.add_argument(
        "--ddp-world",
        type=int,
        default=0,
        help="processes in the multi-process DDP check (default: 2 when two GPUs are visible, "
        "else skipped; a number > 1 without GPUs runs it with gloo on the CPU)",
    )
    parser.add_argument("--ddp-timeout", type=int, default=180)
    parser.add_argument("--ddp-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--ddp-rank", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--ddp-backend", default="gloo", help=argparse.SUPPRESS)
    parser.add_argument("--ddp-init", default="", help=argparse.SUPPRESS)
    parser.add_argument("--ddp-result", default="", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    options = parse_args(argv)
    # Everything here is built from configs: never reach a model hub, never draw progress bars.
    for key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_DISABLE_PROGRESS_BARS"):
        os.environ.setdefault(key, "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    if options.ddp_worker:
        return ddp_worker(options)
    out = Path(options.out).open("a", encoding="utf-8") if options.out else sys.stdout  # noqa: SIM115
    try:
        suite = Suite(out, options)
        suite.emit(
            {
                "event": "start",
                "pid": os.getpid(),
                "python": sys.version.split()[0],
                "executable": sys.executable,
            }
        )
        for name, group in GROUPS:
            if name in options.exclude or (options.only and name not in options.only):
                continue
            suite.emit({"event": "begin", "group": name})
            start = time.perf_counter()
            try:
                group(suite)
            except Skip as exc:  # the group could not even start (torch missing)
                suite.record(name, "skip", str(exc), time.perf_counter() - start, {})
            except Exception as exc:
                details = {"traceback": traceback.format_exc()[-4000:]}
                suite.record(name, "fail", describe(exc), time.perf_counter() - start, details)
        suite.emit({"event": "end", "counts": suite.counts})
    finally:
        if out is not sys.stdout:
            out.close()
    return 1 if suite.counts["fail"] else 0


if __name__ == "__main__":
    sys.exit(main())
