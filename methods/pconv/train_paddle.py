"""Partial Convolutions training, PaddlePaddle port (read side by side with train_torch.py).

Schedule (Liu et al. 2018, Sec. 4.2): Adam at learning rate 2e-4, then fine-tuning at 5e-5
with the encoder's BatchNorm frozen; the fine-tuning share of the steps is a setting
(finetune_fraction). Training holes come from the harness's free-form generator. On a GPU the
forward pass runs under bfloat16 autocast (NCHW: Paddle picks the layout per layer at build
time, so there is no channels-last switch here); on the CPU in float32.
"""
import paddle
from tqdm import tqdm

from methods import checkpoint, resume_paddle, training
from methods.pconv import loss_paddle, model_paddle
from methods.pconv.vgg import vgg16_path

RESUME = "resume_paddle.pdparams"


def build_model(params, seed, device):
    """The network with the framework-neutral initial weights of training.init_state."""
    return model_paddle.build({"params": params}, seed=seed)


def train_step(model, vgg, optimizer, image, hole, device, fast):
    """One optimiser step on a numpy batch; fast: bfloat16 autocast (GPU only). Returns the
    loss and its terms as floats."""
    image = paddle.to_tensor(image)
    valid = (1 - paddle.to_tensor(hole)).expand_as(image)
    with paddle.amp.auto_cast(enable=fast, dtype="bfloat16"):
        out, _ = model(image * valid, valid)
    terms = loss_paddle.loss_terms(out.astype("float32"), image, valid, vgg)
    loss = loss_paddle.total_loss(terms)
    optimizer.clear_grad(set_to_zero=False)
    loss.backward()
    optimizer.step()
    return {"loss": loss.item(), **{name: value.item() for name, value in terms.items()}}


def train(spec, data, out_dir, *, steps, seed, device, params, settings, backbones):
    """Train from scratch or resume; returns (neutral weights, deviations from the paper)."""
    # Paddle names parameters and optimiser accumulators from a process-wide counter; a fresh
    # counter per run makes a saved optimiser state match the run that resumes it.
    with paddle.utils.unique_name.guard():
        return run(data, out_dir, steps=steps, seed=seed, device=device, params=params,
                   settings=settings, backbones=backbones)


def run(data, out_dir, *, steps, seed, device, params, settings, backbones):
    paddle.set_device("gpu" if device in ("gpu", "cuda") else device)
    model = build_model(params, seed, device)
    path, deviations = vgg16_path(settings, backbones)
    vgg = None if path is None else loss_paddle.load_vgg16(path)
    optimizer = paddle.optimizer.Adam(learning_rate=settings["lr"],
                                      parameters=model.parameters())
    out_dir.mkdir(parents=True, exist_ok=True)
    run_id = training.fingerprint(data, params, settings, seed)
    parts = {"model": model, "optimizer": optimizer}
    start, records = resume_paddle.load(out_dir / RESUME, parts, run_id)
    fast = device in ("gpu", "cuda")  # bfloat16 autocast on a GPU, float32 on the CPU
    images = training.load_split(data)
    for step in tqdm(range(start, steps), initial=start, total=steps, desc="pconv/paddle"):
        stage = training.stage(step, steps, settings["finetune_fraction"])
        optimizer.set_lr(settings["lr"] if stage == 1 else settings["finetune_lr"])
        model_paddle.set_train_mode(model, True, freeze_encoder_bn=stage == 2)
        image, hole = training.sample_batch(images, step, settings["batch_size"], seed)
        record = {"step": step, "stage": stage,
                  **train_step(model, vgg, optimizer, image, hole, device, fast)}
        training.check_finite("paddle", parts, record, "pconv/paddle")
        records.append(record)
        if (step + 1) % settings["checkpoint_every"] == 0 or step + 1 == steps:
            resume_paddle.save(out_dir / RESUME, parts, step + 1, records, run_id)
    model_paddle.set_train_mode(model, False, freeze_encoder_bn=False)
    return checkpoint.paddle_state(model), deviations
