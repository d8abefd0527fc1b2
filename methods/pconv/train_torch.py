"""Partial Convolutions training, PyTorch port (read side by side with train_paddle.py).

Schedule (Liu et al. 2018, Sec. 4.2): Adam at learning rate 2e-4, then fine-tuning at 5e-5
with the encoder's BatchNorm frozen; the fine-tuning share of the steps is a setting
(finetune_fraction). Training holes come from the harness's free-form generator. On a GPU the
forward pass runs under bfloat16 autocast with channels-last tensors; on the CPU in float32.
"""
import torch
from tqdm import tqdm

from methods import checkpoint, resume_torch, training
from methods.pconv import loss_torch, model_torch
from methods.pconv.vgg import vgg16_path

RESUME = "resume_torch.pt"


def build_model(params, seed, device):
    """The network with the framework-neutral initial weights of training.init_state."""
    return model_torch.build({"params": params}, seed=seed).to(device)


def train_step(model, vgg, optimizer, image, hole, device, fast):
    """One optimiser step on a numpy batch; fast: bfloat16 autocast (GPU only). Returns the
    loss and its terms as floats."""
    image = torch.from_numpy(image).to(device)
    valid = (1 - torch.from_numpy(hole).to(device)).expand_as(image).contiguous()
    if fast:
        image, valid = (t.to(memory_format=torch.channels_last) for t in (image, valid))
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=fast):
        out, _ = model(image * valid, valid)
    terms = loss_torch.loss_terms(out.float(), image, valid, vgg)
    loss = loss_torch.total_loss(terms)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return {"loss": loss.item(), **{name: value.item() for name, value in terms.items()}}


def train(spec, data, out_dir, *, steps, seed, device, params, settings, backbones):
    """Train from scratch or resume; returns (neutral weights, deviations from the paper)."""
    device = torch.device("cuda" if device == "gpu" else device)
    model = build_model(params, seed, device)
    path, deviations = vgg16_path(settings, backbones)
    vgg = None if path is None else loss_torch.load_vgg16(path).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings["lr"])
    out_dir.mkdir(parents=True, exist_ok=True)
    run_id = training.fingerprint(data, params, settings, seed)
    parts = {"model": model, "optimizer": optimizer}
    start, records = resume_torch.load(out_dir / RESUME, parts, run_id)
    fast = device.type == "cuda"  # bfloat16 + channels-last on a GPU, float32 on the CPU
    if fast:
        model = model.to(memory_format=torch.channels_last)
    images = training.load_split(data)
    for step in tqdm(range(start, steps), initial=start, total=steps, desc="pconv/torch"):
        stage = training.stage(step, steps, settings["finetune_fraction"])
        for group in optimizer.param_groups:
            group["lr"] = settings["lr"] if stage == 1 else settings["finetune_lr"]
        model_torch.set_train_mode(model, True, freeze_encoder_bn=stage == 2)
        image, hole = training.sample_batch(images, step, settings["batch_size"], seed)
        record = {"step": step, "stage": stage,
                  **train_step(model, vgg, optimizer, image, hole, device, fast)}
        training.check_finite("torch", parts, record, "pconv/torch")
        records.append(record)
        if (step + 1) % settings["checkpoint_every"] == 0 or step + 1 == steps:
            resume_torch.save(out_dir / RESUME, parts, step + 1, records, run_id)
    model_torch.set_train_mode(model, False, freeze_encoder_bn=False)
    return checkpoint.torch_state(model), deviations
