"""DeepFill v1's layer tables, framework-neutral, read by both ports (model_torch.py,
model_paddle.py), so that the two build the same layers under the same names.

Source: JiahuiYu/generative_inpainting, inpaint_model.py InpaintCAModel.build_inpaint_net and
build_wgan_{local,global}_discriminator (the v1 model; read at commit 8747474, whose
inpaint.yml is the v1 configuration). The layer names are upstream's variable scopes, so a
converter of the published TensorFlow checkpoints can map them one to one.

A generator row is (name, kernel, stride, dilation, outputs as a multiple of cnum); stride
"up" is upstream's gen_deconv: nearest x2 resize (align_corners) then a 3x3 convolution. Every
generator convolution has a bias and ELU (gen_conv's default activation) unless named in
NO_ELU.
"""
CNUM = 32  # build_inpaint_net: cnum = 32
# Initial weights: tf.layers.conv2d and tf.layers.dense default to Glorot uniform, zero biases.
INIT = "glorot_uniform"
COARSE = [
    ("conv1", 5, 1, 1, 1), ("conv2_downsample", 3, 2, 1, 2), ("conv3", 3, 1, 1, 2),
    ("conv4_downsample", 3, 2, 1, 4), ("conv5", 3, 1, 1, 4), ("conv6", 3, 1, 1, 4),
    ("conv7_atrous", 3, 1, 2, 4), ("conv8_atrous", 3, 1, 4, 4), ("conv9_atrous", 3, 1, 8, 4),
    ("conv10_atrous", 3, 1, 16, 4), ("conv11", 3, 1, 1, 4), ("conv12", 3, 1, 1, 4),
    ("conv13_upsample", 3, "up", 1, 2), ("conv14", 3, 1, 1, 2),
    ("conv15_upsample", 3, "up", 1, 1), ("conv16", 3, 1, 1, 0.5), ("conv17", 3, 1, 1, None),
]
# Refinement network, convolution ("hallucination") branch.
HALLUCINATION = [
    ("xconv1", 5, 1, 1, 1), ("xconv2_downsample", 3, 2, 1, 1), ("xconv3", 3, 1, 1, 2),
    ("xconv4_downsample", 3, 2, 1, 2), ("xconv5", 3, 1, 1, 4), ("xconv6", 3, 1, 1, 4),
    ("xconv7_atrous", 3, 1, 2, 4), ("xconv8_atrous", 3, 1, 4, 4), ("xconv9_atrous", 3, 1, 8, 4),
    ("xconv10_atrous", 3, 1, 16, 4),
]
# Refinement network, attention branch: before and after contextual attention.
ATTENTION_IN = [
    ("pmconv1", 5, 1, 1, 1), ("pmconv2_downsample", 3, 2, 1, 1), ("pmconv3", 3, 1, 1, 2),
    ("pmconv4_downsample", 3, 2, 1, 4), ("pmconv5", 3, 1, 1, 4), ("pmconv6", 3, 1, 1, 4),
]
ATTENTION_OUT = [("pmconv9", 3, 1, 1, 4), ("pmconv10", 3, 1, 1, 4)]
# Refinement network after concatenating the two branches (8 x cnum channels).
MERGE = [
    ("allconv11", 3, 1, 1, 4), ("allconv12", 3, 1, 1, 4), ("allconv13_upsample", 3, "up", 1, 2),
    ("allconv14", 3, 1, 1, 2), ("allconv15_upsample", 3, "up", 1, 1), ("allconv16", 3, 1, 1, 0.5),
    ("allconv17", 3, 1, 1, None),
]
NO_ELU = {"conv17": None, "allconv17": None, "pmconv6": "relu"}  # upstream's exceptions
IMAGE_CHANNELS = 3
INPUT_CHANNELS = 5  # the image, a channel of ones and the mask (build_inpaint_net)

# Contextual attention as build_inpaint_net calls it: contextual_attention(x, x, mask_s, 3, 1,
# rate=2), with the defaults fuse_k=3, softmax_scale=10 (inpaint_ops.py).
ATTENTION = {"ksize": 3, "stride": 1, "rate": 2, "fuse_k": 3, "softmax_scale": 10.0}

# WGAN critics (build_wgan_local_discriminator / build_wgan_global_discriminator): 5x5
# stride-2 'SAME' convolutions with leaky ReLU (dis_conv; tf.nn.leaky_relu's alpha 0.2), then a
# dense layer to one value. Channels as multiples of the critics' cnum, 64 upstream.
CRITIC_CNUM = 64
LOCAL_CRITIC = [1, 2, 4, 8]
GLOBAL_CRITIC = [1, 2, 4, 4]
CRITIC_KERNEL, CRITIC_STRIDE, LEAK = 5, 2, 0.2


def outputs(ratio, cnum):
    """A row's output channels: ratio x cnum, or the 3 image channels for the last layers."""
    return IMAGE_CHANNELS if ratio is None else int(ratio * cnum)


def activation(name):
    return NO_ELU.get(name, "elu")
