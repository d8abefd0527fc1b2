"""The paper's post-processing, shared by both ports (numpy and OpenCV, no framework).

Iizuka et al. 2017, end of Sec. 3 ("post-processing"): the completed region can show subtle
colour inconsistencies with its surroundings, so it is blended with the surrounding pixels: the
fast marching method (Telea 2004) and then Poisson image blending (Perez et al. 2003). As in
otenim/GLCIC-PyTorch utils.py poisson_blend, fast marching fills the hole of the input image,
and OpenCV's seamlessClone (normal cloning) pastes the network's completion into that filled
image, keeping the completion's gradients inside the hole and the image's values around it.

Both OpenCV steps work on 8-bit images, so the blend is computed on the 8-bit quantisation of
the inputs (the predict stage saves 8-bit PNGs anyway).
"""
import cv2
import numpy as np

# cv2.inpaint radius: the neighbourhood fast marching averages over (GLCIC-PyTorch uses 1;
# the paper gives none). 3 is OpenCV's documented example value and the harness's telea method.
FAST_MARCHING_RADIUS = 3
# seamlessClone clears the outermost pixel of its mask and needs the pasted region inside the
# image; a reflected border lets a hole that touches the image edge be blended too, with the
# fast-marching fill as its boundary value beyond the edge.
BORDER = 2


def to_uint8(image_chw):
    return np.clip(np.rint(image_chw.transpose(1, 2, 0) * 255), 0, 255).astype(np.uint8)


def blend_one(completion, image, hole):
    """completion, image: (3,H,W) in [0,1]; hole: (H,W) bool. Returns (3,H,W) in [0,1]."""
    if completion.shape != image.shape:
        raise ValueError(f"post-processing: completion {completion.shape} and image "
                         f"{image.shape} differ in shape")
    if not hole.any():
        return completion
    known = to_uint8(image * (1 - hole))
    hole8 = hole.astype(np.uint8) * 255
    filled = cv2.inpaint(known, hole8, FAST_MARCHING_RADIUS, cv2.INPAINT_TELEA)
    pad = dict(top=BORDER, bottom=BORDER, left=BORDER, right=BORDER,
               borderType=cv2.BORDER_REFLECT)
    source = cv2.copyMakeBorder(to_uint8(completion), **pad)
    target = cv2.copyMakeBorder(filled, **pad)
    region = cv2.copyMakeBorder(hole8, **pad)
    # seamlessClone clears the mask's outermost pixels and then centres the bounding box of
    # what is left at `center` (integer halves); clearing them here first makes the box the
    # one it uses, so its own centre pastes every pixel back where it came from (a box taken
    # before the clearing puts a hole on the image border one pixel off).
    region[[0, -1], :] = 0
    region[:, [0, -1]] = 0
    x, y, w, h = cv2.boundingRect(region)
    out = cv2.seamlessClone(source, target, region, (x + w // 2, y + h // 2), cv2.NORMAL_CLONE)
    out = out[BORDER:-BORDER, BORDER:-BORDER]
    return out.transpose(2, 0, 1).astype(np.float32) / 255


def blend(completion, image, mask):
    """Batched: completion, image float32 (N,3,H,W) in [0,1]; mask (N,1,H,W), 1 = hole."""
    return np.stack([blend_one(c, i, m[0] > 0.5) for c, i, m in zip(completion, image, mask)])
