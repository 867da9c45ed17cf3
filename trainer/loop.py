"""The training loop. `Trainer.train` reads top to bottom, nanoGPT style; the rest is setup.

One step: take this rank's slice of the step's global batch, run ``grad_accum`` micro-steps (gradient
sync only on the last), clip, step AdamW and the schedule, log, maybe evaluate, maybe checkpoint.

The loss is normalised by the number of label tokens in the whole global batch (summed over ranks
before the forward pass), not averaged per micro-batch: with masked SFT labels the two differ, and
only the first gives every token the same weight whatever the accumulation or world size.

`Trainer` is a torch ``Stateful``: its ``state_dict`` is what a checkpoint holds (model, optimizer,
scheduler, data cursor, RNG states, step), and DCP loads into it in place.
"""

from __future__ import annotations

import functools
import gc
import math
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.distributed.checkpoint.state_dict import get_state_dict, set_model_state_dict, set_state_dict
from torch.distributed.checkpoint.stateful import Stateful

from corpus import keys
from trainer import checkpoint, data, dpo, lineage, parallel
from trainer.config import EXPORT_DIR, Config
from trainer.generate import complete
from trainer.loss import targets as loss_targets
from trainer.masking import model_inputs
from trainer.metrics import Metrics, peak_flops
from trainer.model import base_config, flops_per_token, load_tokenizer, tokenizer_sha256
from trainer.prefetch import Prefetcher
from trainer.schedule import lr_multiplier


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def rng_state() -> dict[str, Any]:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class Trainer(Stateful):
    def __init__(self, cfg: Config):
        self.cfg = cfg
        self.dist = parallel.init()
        t, d = cfg.train, cfg.data
        seed_everything(t.seed)  # the same on every rank: replicas start identical, RNG states stay equal
        tok_sha = tokenizer_sha256(cfg.tokenizer)
        self.tok = load_tokenizer(cfg.tokenizer, data.tokens_eos_id(cfg, tok_sha))
        self.data, self.val, data_sha = data.open_data(cfg, self.tok, tok_sha)
        self.model, self.train_model = parallel.build(cfg, self.tok, self.dist)
        self.flops_per_token = flops_per_token(self.model, d.seq_len)
        self.autocast = parallel.autocast_dtype(cfg, self.dist.device)

        decay = [p for p in self.model.parameters() if p.requires_grad and p.dim() >= 2]  # matmuls, embeddings
        no_decay = [p for p in self.model.parameters() if p.requires_grad and p.dim() < 2]  # biases, norms
        self.optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": t.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=t.lr, betas=tuple(t.betas), fused=True)  # one kernel for all parameters, on CPU and GPU alike
        min_lr = t.lr / 10 if t.min_lr is None else t.min_lr
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, functools.partial(
            lr_multiplier, warmup=t.warmup_steps, total=t.steps, min_ratio=min_lr / t.lr, schedule=t.schedule,
            decay_fraction=t.decay_fraction, decay_shape=t.decay_shape))

        self.per_rank = t.micro_batch_size * t.grad_accum  # windows per rank per step
        self.global_batch = self.per_rank * self.dist.world_size
        # tokens a window (a pair of sequences for DPO) puts through the model
        self.window_tokens = d.seq_len * (2 if cfg.task == "dpo" else 1)
        self.step = 0
        self.cursor = 0  # windows consumed: where the next step's global batch starts
        self.lineage = lineage.new(cfg.task, data_sha, d.tokens or d.path, tok_sha, self.tok.eos_token_id,
                                   cfg.sha256(), t.seed, d.seq_len)
        if cfg.task != "pretrain":  # which examples train: a resume with another split would change the order
            self.lineage[keys.VAL_FRACTION] = d.val_fraction
        if source := lineage.source(cfg.model.from_pretrained):  # the export this run starts from (SFT -> DPO)
            self.lineage[keys.FROM_PRETRAINED] = source
        if self.data.truncated:  # SFT examples longer than a window are cut to one (trainer.masking)
            self.lineage[keys.SFT_TRUNCATED] = self.data.truncated
            if self.dist.is_main:
                what = "SFT examples" if cfg.task == "sft" else "DPO sequences (one side of a pair)"
                print(f"thresher: {self.data.truncated} {what} are longer than seq_len + 1 = {d.seq_len + 1} "
                      "tokens and were truncated to one window", flush=True)
        if cfg.task != "pretrain" and cfg.eval.every and self.val is None and self.dist.is_main:
            print(f"thresher: eval.every is set but data.val_fraction is 0: no validation loss for this {cfg.task} run",
                  flush=True)

    # ---- Stateful: what a checkpoint holds -------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        model_sd, optim_sd = get_state_dict(self.model, self.optimizer)
        return {"model": model_sd, "optimizer": optim_sd, "scheduler": self.scheduler.state_dict(),
                "data": {"cursor": self.cursor}, "rng": rng_state(), "step": self.step}

    def load_state_dict(self, sd: dict[str, Any]) -> None:
        set_state_dict(self.model, self.optimizer, model_state_dict=sd["model"], optim_state_dict=sd["optimizer"])
        self.scheduler.load_state_dict(sd["scheduler"])
        self.cursor = sd["data"]["cursor"]
        set_rng_state(sd["rng"])
        self.step = sd["step"]
        # Hyperparameters come from the config, not the checkpoint: a resume may change them (the
        # optimizer's moments and step counts, and the schedule's position, are what carry over).
        t = self.cfg.train
        self.scheduler.base_lrs = [t.lr] * len(self.optimizer.param_groups)
        for group, decay in zip(self.optimizer.param_groups, (t.weight_decay, 0.0), strict=True):
            group.update(weight_decay=decay, betas=tuple(t.betas), lr=t.lr * self.scheduler.lr_lambdas[0](self.step))

    def resume(self) -> None:
        """Continue from the newest complete checkpoint, if any, after checking it is the same data."""
        path = checkpoint.latest(self.cfg.checkpoint.dir)
        if path is None:
            if self.cfg.train.init_from:
                self.init_from(self.cfg.train.init_from)
            return
        saved = lineage.read(path)
        lineage.check_resume(saved, self.lineage, path)
        checkpoint.check_model(path, self.cfg)
        checkpoint.load(self, path)
        self.lineage = {**saved, keys.CONFIG_SHA256: self.lineage[keys.CONFIG_SHA256],
                        keys.VERSIONS: self.lineage[keys.VERSIONS]}
        if self.dist.is_main:
            print(f"thresher: resuming from {path} (step {self.step})", flush=True)

    def init_from(self, path: str) -> None:
        """Start step 1 from another run's checkpoint: its weights, and its AdamW state if asked.

        An annealing phase (a new mix, a short decay) begins here. The data cursor, schedule and step
        are this run's own; the source checkpoint's lineage is kept under ``init_from`` so the chain
        of phases stays readable from the final model.
        """
        saved = checkpoint.check_init_from(path, self.cfg, self.lineage)
        with_optimizer = self.cfg.train.init_optimizer == "continue"
        model_sd, optim_sd = get_state_dict(self.model, self.optimizer)
        part = {"model": model_sd, **({"optimizer": optim_sd} if with_optimizer else {})}
        checkpoint.load(part, path)
        if with_optimizer:  # the moments carry over; the hyperparameters are this config's
            set_state_dict(self.model, self.optimizer, model_state_dict=model_sd, optim_state_dict=optim_sd)
            t = self.cfg.train
            for group, decay in zip(self.optimizer.param_groups, (t.weight_decay, 0.0), strict=True):
                group.update(weight_decay=decay, betas=tuple(t.betas), lr=t.lr * self.scheduler.lr_lambdas[0](0))
        else:
            set_model_state_dict(self.model, model_sd)
        self.lineage[keys.INIT_FROM] = {"checkpoint": str(path), "optimizer": self.cfg.train.init_optimizer,
                                        keys.SOURCE_LINEAGE: saved}
        if self.dist.is_main:
            print(f"thresher: starting from {path} (step {saved[keys.STEP]}, optimizer "
                  f"{self.cfg.train.init_optimizer})", flush=True)

    # ---- the loop -------------------------------------------------------------------------------------
    def train(self) -> None:
        cfg, t, d = self.cfg, self.cfg.train, self.dist
        self.resume()
        if cfg.task == "dpo":
            self.dpo_reference()
        lineage.start_segment(self.lineage, self.step + 1, self.global_batch, d.world_size)
        metrics = Metrics(cfg.output.dir, d.is_main, self.step, t.steps, cfg.output.progress, cfg.output.tensorboard,
                          cfg.output.log_every)
        peak = peak_flops(d.device)
        mbs = t.micro_batch_size
        self.train_model.train()
        batches = Prefetcher(self.rank_batch, self.global_batch)
        pending: list[dict[str, Any]] = []  # step lines whose loss and grad norm are still device tensors
        since = time.perf_counter()
        writing = None  # the last checkpoint.save, which an async save finishes later
        while self.step < t.steps:
            step = self.step + 1
            # This rank's slice of the step's global batch, and the label count of the whole batch.
            # positions: the reference log-probabilities of each pair for DPO (`trainer.dpo.PairData`)
            inputs, labels, positions = (b.to(d.device, non_blocking=True) for b in batches.get(self.cursor))
            dpo_task = cfg.task == "dpo"  # the loss is per pair, not per token
            n_labels = torch.tensor(float(self.global_batch), device=d.device) if dpo_task else \
                parallel.all_reduce_sum((labels != data.IGNORE).sum()).clamp(min=1)
            loss_sum = torch.zeros((), device=d.device)
            pair_stats = torch.zeros(2, device=d.device)  # dpo: summed reward margin, preferred pairs
            for micro in range(t.grad_accum):
                x, y, pos = (b[micro * mbs:(micro + 1) * mbs] for b in (inputs, labels, positions))
                with parallel.grad_sync(self.train_model, sync=micro == t.grad_accum - 1), \
                        torch.autocast(d.device.type, dtype=self.autocast, enabled=self.autocast is not None):
                    if dpo_task:
                        loss, stats = dpo.dpo_loss(self.train_model, x, y, pos, t.beta)
                        pair_stats += stats
                    else:
                        with loss_targets(self.model, y):  # the summed token loss, never the full logits
                            loss = self.train_model(**model_inputs(x, pos)).logits
                    # DDP and FSDP average gradients over ranks; scaling by world_size / n_labels makes the
                    # result the gradient of (sum of token losses) / (label tokens in the global batch).
                    (loss * d.world_size / n_labels).backward()
                loss_sum += loss.detach()
            grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), t.grad_clip or float("inf"))
            lr = self.optimizer.param_groups[0]["lr"]
            self.optimizer.step()
            self.scheduler.step()
            self.optimizer.zero_grad(set_to_none=True)

            self.step, self.cursor = step, self.cursor + self.global_batch
            lineage.advance(self.lineage, step, self.global_batch, self.global_batch * self.window_tokens)
            norm = grad_norm.full_tensor() if hasattr(grad_norm, "full_tensor") else grad_norm
            pending.append({"step": step, "loss": parallel.all_reduce_sum(loss_sum) / n_labels, "lr": lr,
                            "grad_norm": norm.detach(), "tokens": self.lineage[keys.TOKENS_CONSUMED],
                            "extra": {"mix_share": share} if (share := self.data.mix_share(self.cursor)) else {}})
            if dpo_task:
                margin, preferred = parallel.all_reduce_sum(pair_stats) / n_labels
                pending[-1]["extra"] = {"reward_margin": margin, "pref_acc": preferred}

            last = step == t.steps
            evaluating = cfg.eval.every and (step % cfg.eval.every == 0 or last)
            saving = (cfg.checkpoint.every and step % cfg.checkpoint.every == 0) or last
            if step % cfg.output.log_every == 0 or evaluating or saving:  # the only host sync of the loop
                self.log_steps(metrics, pending, time.perf_counter() - since, peak)
            if evaluating:
                if self.val is not None:
                    metrics.log({"step": step, **self.evaluate()})
                if cfg.eval.sample_prompt:
                    self.sample(step)
            if saving:
                if writing is not None:
                    writing.finish()  # one write at a time: the previous must be complete before the next
                writing = checkpoint.save(self, cfg.checkpoint.dir, step, self.lineage, cfg.to_dict(),
                                          cfg.checkpoint.keep, d, base_config(self.model), cfg.checkpoint.async_)
            if not pending:
                since = time.perf_counter()  # evaluation and checkpointing are not training time
        if writing is not None:
            writing.finish()
        batches.close()
        metrics.close()

    def rank_batch(self, cursor: int) -> tuple[torch.Tensor, ...]:
        """This rank's windows of the global batch starting at window ``cursor`` (pinned for a GPU copy)."""
        first = cursor + self.dist.rank * self.per_rank
        batch = self.data.batch(range(first, first + self.per_rank), positions=True)  # inputs, labels, positions
        if self.dist.device.type == "cuda":
            batch = tuple(b.pin_memory() for b in batch)
        return batch

    def log_steps(self, metrics: Metrics, pending: list[dict[str, Any]], seconds: float, peak: float | None) -> None:
        """Write the pending step lines, fetching their losses and norms in one host sync.

        ``tokens_per_s`` (and so ``mfu``) is the interval's mean: a single step's time means nothing
        once the host no longer waits for each step.
        """
        values = torch.stack([torch.stack([r["loss"].float(), r["grad_norm"].float()]) for r in pending]).tolist()
        tokens_per_s = len(pending) * self.global_batch * self.window_tokens / seconds
        mfu = self.flops_per_token * tokens_per_s / (peak * self.dist.world_size) if peak else None
        for r, (loss, norm) in zip(pending, values, strict=True):
            extra = {k: v.item() if torch.is_tensor(v) else v for k, v in r["extra"].items()}  # dpo: already synced
            metrics.log({"step": r["step"], "loss": loss, "lr": r["lr"], "grad_norm": norm, "tokens_per_s": tokens_per_s,
                         "tokens": r["tokens"], "mfu": mfu, **extra})
        pending.clear()

    def sample(self, step: int) -> None:
        """Print the greedy continuation of ``eval.sample_prompt`` (SFT: through the chat template).

        Every rank generates (FSDP's all-gathers are collective; greedy decoding keeps them in step);
        the first prints.
        """
        e = self.cfg.eval
        with torch.autocast(self.dist.device.type, dtype=self.autocast, enabled=self.autocast is not None):
            text = complete(self.model, self.tok, e.sample_prompt, e.sample_max_new_tokens, chat=self.cfg.task != "pretrain")
        if self.dist.is_main:
            print(f"thresher: sample at step {step}: {e.sample_prompt!r} -> {text!r}", flush=True)

    def dpo_reference(self) -> None:
        """The frozen reference's log-probabilities of every pair (`trainer.dpo.reference_logps`)."""
        dpo.reference_logps(self.model, [self.data, self.val], self.lineage[keys.DATA_SHA256], self.cfg.output.dir,
                            self.step, self.dist, self.cfg.train.micro_batch_size, self.autocast)

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Mean token loss on the first ``eval.batches * micro_batch_size`` validation windows, as ``val_loss``
        and ``perplexity``; for DPO the validation pairs' ``val_loss``, ``val_reward_margin``, ``val_pref_acc``.

        The windows are the same for any world size; ranks split them and every rank runs the same
        number of forward passes (FSDP's all-gathers are collective), a spare one weighted zero.
        """
        d, mbs = self.dist, self.cfg.train.micro_batch_size
        count = min(self.cfg.eval.batches * mbs, self.val.order.windows_per_epoch)
        dpo_task = self.cfg.task == "dpo"
        total = torch.zeros(4 if dpo_task else 2, device=d.device)  # loss sum, label count (dpo: `dpo.val_sums`)
        self.model.eval()
        for chunk in parallel.rank_chunks(count, d, mbs):
            x, y, pos = (b.to(d.device) for b in self.val.batch(chunk or [0], positions=True))
            with torch.autocast(d.device.type, dtype=self.autocast, enabled=self.autocast is not None):
                if dpo_task:
                    sums = dpo.val_sums(self.model, (x, y, pos), self.cfg.train.beta)
                else:
                    with loss_targets(self.model, y):
                        loss = self.model(**model_inputs(x, pos)).logits
                    # only label tokens count: SFT masks prompts, packing may mask across documents
                    sums = torch.stack([loss, (y != data.IGNORE).sum().to(loss.dtype)])
            if chunk:
                total += sums
        self.model.train()
        parallel.all_reduce_sum(total)
        if dpo_task:
            return dpo.val_metrics(total)
        val_loss = (total[0] / total[1]).item()
        return {"val_loss": val_loss, "perplexity": math.exp(min(val_loss, 80.0))}


def run(cfg: Config) -> None:
    """Train (resuming if checkpoints exist), then export ``output.dir/hf/`` from the final checkpoint.

    The trainer, and with it DDP's reducer, is gone before the process group is destroyed: a reducer
    freed later drops the group's last reference with the GIL held, and Gloo's destructor then waits on a
    worker thread that needs the GIL to free a finished collective's tensors (a hang at exit, seen)."""
    try:
        _train_and_export(cfg)
        gc.collect()  # reference cycles that still reach the model
        parallel.barrier()
    finally:
        parallel.close()


def _train_and_export(cfg: Config) -> None:
    trainer = Trainer(cfg)
    trainer.train()
    if cfg.output.export and trainer.dist.is_main:
        from trainer.export import export

        out = export(checkpoint.step_dir(cfg.checkpoint.dir, trainer.step), str(Path(cfg.output.dir) / EXPORT_DIR))
        print(f"thresher: exported {out}", flush=True)
