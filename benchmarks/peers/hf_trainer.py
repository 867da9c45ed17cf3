"""Peer of bench_train.py, run in the peer environment: Hugging Face ``Trainer`` on Thresher's windows.

    python hf_trainer.py MODEL_DIR WINDOWS.npy SETTINGS_JSON   # prints {"tokens_per_s", "optim"}

MODEL_DIR is the model Thresher builds for the same config (``save_pretrained``); WINDOWS.npy the
packed windows Thresher's data module yields, in order, one per sample (``input_ids`` = ``labels``).
SETTINGS_JSON carries the optimiser and schedule settings of Thresher's config. tokens/s is the
batch's tokens over the median step time after ``warmup`` steps (data loading falls outside).
"""

import json
import statistics
import sys
import time

import numpy as np
import torch
from transformers import AutoModelForCausalLM, Trainer, TrainerCallback, TrainingArguments

model_dir, windows_path, s = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
torch.set_num_threads(s["threads"])
windows = torch.from_numpy(np.load(windows_path))


class Windows(torch.utils.data.Dataset):
    def __len__(self) -> int:
        return len(windows)

    def __getitem__(self, g: int) -> dict:
        return {"input_ids": windows[g], "labels": windows[g]}


class StepTimes(TrainerCallback):
    def __init__(self) -> None:
        self.times: list[float] = []

    def on_step_begin(self, *a, **k):
        self.t0 = time.perf_counter()

    def on_step_end(self, *a, **k):
        self.times.append(time.perf_counter() - self.t0)


timer = StepTimes()
args = TrainingArguments(output_dir=s["output_dir"], per_device_train_batch_size=s["batch"], max_steps=s["steps"],
                         learning_rate=s["lr"], weight_decay=s["weight_decay"], warmup_steps=s["warmup_steps"],
                         lr_scheduler_type="cosine", max_grad_norm=s["grad_clip"], adam_beta1=s["betas"][0],
                         adam_beta2=s["betas"][1], use_cpu=not s["gpu_bf16"], bf16=s["gpu_bf16"], report_to=[],
                         save_strategy="no", logging_steps=10 ** 9, dataloader_num_workers=0, disable_tqdm=True,
                         seed=s["seed"])
model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="sdpa")
Trainer(model=model, args=args, train_dataset=Windows(), callbacks=[timer]).train()
step = statistics.median(timer.times[s["warmup"]:])
optim = getattr(args.optim, "value", args.optim)
print(json.dumps({"tokens_per_s": s["batch"] * windows.shape[1] / step, "optim": str(optim)}))
