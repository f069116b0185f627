#!/usr/bin/env bash
# The GPU figures (results/README.md) on a machine without internet, from the repository's root:
#   bash scripts/gpu-figures.sh [FOLDER] [--quick]
# Wheels carried in .whl/ are installed first (into /tmp/site, ahead on PYTHONPATH); then every
# figure goes into FOLDER (default results/gpu), packed into $OUT/gpu-figures.tar.gz where the
# device tool set OUT (it returns at most 8 files).
set -uo pipefail
folder=${1:-results/gpu}
shift || true
python=${PYTHON:-python3}
if compgen -G ".whl/*.whl" > /dev/null; then
  "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
"$python" -m bench.tools.gpu_figures --out "$folder" "$@"
status=$?
if [ -n "${OUT:-}" ]; then
  tar czf "$OUT/gpu-figures.tar.gz" -C "$folder" . || status=1
fi
exit $status
