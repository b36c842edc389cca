#!/usr/bin/env bash
# Run torchresolve's GPU checks on a machine with an NVIDIA GPU and a preinstalled torch stack,
# without network access, and leave every report in one folder.
#
#   scripts/gpu_verification.sh OUTDIR [WHEELHOUSE [CACHEDIR]]
#
# PYTHON (default python3) is the interpreter of the preinstalled stack. torchresolve is
# installed into a venv layered over it (a .pth file naming the stack's site folders, which
# also works when PYTHON is itself a venv), from this checkout, with its
# own dependencies taken from WHEELHOUSE when the machine has no index. CACHEDIR, when given, is
# a warm torchresolve metadata cache, so `upgrade --offline` can plan on the machine itself.
set -uo pipefail

out=${1:?usage: gpu_verification.sh OUTDIR [WHEELHOUSE [CACHEDIR]]}
wheels=${2:-}
cache=${3:-}
python=${PYTHON:-python3}
here=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$out"

step() { printf '\n== %s\n' "$*" | tee -a "$out/summary.txt"; }
record() { local name=$1; shift; "$@" >"$out/$name.txt" 2>"$out/$name.log"; local rc=$?; echo "$name rc=$rc" | tee -a "$out/summary.txt"; return 0; }

step "machine"
nvidia-smi --query-gpu=index,name,compute_cap,memory.total,driver_version --format=csv,noheader \
    2>&1 | tee -a "$out/summary.txt"
"$python" --version 2>&1 | tee -a "$out/summary.txt"

step "install torchresolve over the preinstalled stack"
venv=$(mktemp -d)/tr
"$python" -m venv "$venv"
purelib=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
"$python" -c 'import site, sys; print("\n".join(p for p in sys.path if p.endswith("-packages")))' \
    >"$purelib/_base_stack.pth"
if [ -n "$wheels" ]; then
    "$venv/bin/pip" install -q --no-index --find-links "$wheels" -e "$here" pytest >"$out/install.log" 2>&1
else
    "$venv/bin/pip" install -q -e "$here" pytest >"$out/install.log" 2>&1
fi
echo "install rc=$?" | tee -a "$out/summary.txt"
tr="$venv/bin/torchresolve"
"$venv/bin/python" - >"$out/stack.txt" <<'EOF'
from importlib.metadata import version
from importlib.metadata import PackageNotFoundError
for name in ("torch", "torchvision", "torchaudio", "transformers", "numpy"):
    try:
        print(f"{name}=={version(name)}")
    except PackageNotFoundError:
        pass
EOF
cat "$out/stack.txt" | tee -a "$out/summary.txt"

step "doctor"
record doctor "$tr" doctor --python "$python"
record doctor-json "$tr" doctor --python "$python" --json

step "verify in place"
record verify-inplace "$tr" verify "$out/stack.txt" --in-place "$python" --gpu yes \
    --json "$out/verify-inplace.json" --junit "$out/verify-inplace.xml"

step "verify in a venv layered over the stack"
record verify-base "$tr" verify "$out/stack.txt" --base-env "$python" --no-index --gpu yes \
    --run "python -c 'import torch; print(torch.cuda.get_device_name())'" \
    --json "$out/verify-base.json" --junit "$out/verify-base.xml"

if [ -n "$cache" ]; then
    step "upgrade the bundled example with the detected GPU and driver (offline)"
    record upgrade-detected "$tr" upgrade "$here/examples/torch15/requirements.txt" --python 3.11 \
        --offline --cache-dir "$cache" --format json
fi

step "GPU tests of the suite"
(cd "$here" && record pytest-gpu "$venv/bin/python" -m pytest -q -p no:cacheprovider -m gpu tests)
tail -n 3 "$out/pytest-gpu.txt" | tee -a "$out/summary.txt"
