#!/usr/bin/env bash
# Train on a SLURM cluster, one task per GPU (MMSegmentation's slurm_train.sh, made resumable):
#
#   [GPUS=8] [GPUS_PER_NODE=8] [CPUS_PER_TASK=5] [SRUN_ARGS="..."] \
#       tools/slurm_train.sh PARTITION JOB_NAME CONFIG [tools/train.py options...]
#
# The run continues from the newest checkpoint of its work dir (--auto-resume). SLURM signals
# the tasks 120 s before the time limit (--signal=USR1@120); on that signal, or on the SIGTERM of
# a preemption, every task finishes its iteration, the checkpoint of it is written and the
# tasks exit with status 75 (EX_TEMPFAIL), which srun passes on: run the same command again
# and it continues. To have SLURM do that, submit a batch job that requeues itself on 75:
#
#   #!/usr/bin/env bash
#   #SBATCH --job-name=pcpr --partition=gpu --nodes=2 --ntasks-per-node=8 --gres=gpu:8
#   #SBATCH --cpus-per-task=5 --time=24:00:00 --signal=USR1@120 --requeue --open-mode=append
#   srun --kill-on-bad-exit=1 python -u tools/train.py configs/pcpr/gtaHR2csHR_pcpr.py \
#       --launcher slurm --auto-resume --work-dir work_dirs/pcpr
#   status=$?
#   if [ "$status" -eq 75 ]; then scontrol requeue "$SLURM_JOB_ID"; fi
#   exit "$status"

set -x

PARTITION=$1
JOB_NAME=$2
CONFIG=$3
GPUS=${GPUS:-4}
GPUS_PER_NODE=${GPUS_PER_NODE:-4}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-""}
PY_ARGS=("${@:4}")

PYTHONPATH="$(dirname "$0")/..":$PYTHONPATH \
srun -p "${PARTITION}" \
    --job-name="${JOB_NAME}" \
    --gres=gpu:"${GPUS_PER_NODE}" \
    --ntasks="${GPUS}" \
    --ntasks-per-node="${GPUS_PER_NODE}" \
    --cpus-per-task="${CPUS_PER_TASK}" \
    --kill-on-bad-exit=1 \
    --signal=USR1@120 \
    ${SRUN_ARGS} \
    python -u tools/train.py "${CONFIG}" --launcher slurm --auto-resume "${PY_ARGS[@]}"
