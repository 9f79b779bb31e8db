"""What an attack may ask of the model it attacks, on every backend."""

import collections

Oracle = collections.namedtuple("Oracle", ["gradient", "logits", "losses", "loss", "logits_and_gradient"])
Oracle.__doc__ = """Model access for attack rules inside compiled code.

Fields:
    gradient: `gradient(x, y, draw=0)`, the input gradient of the attack loss (summed over the batch) in inference
        mode. Randomised models (noise layers) draw fresh noise for every distinct `draw` index (on TensorFlow for
        every call), so averaging over draws is expectation over transformation.
    logits: `logits(x)`, the model's outputs in inference mode.
    losses: `losses(x, y)`, the attack loss of each sample (shape [batch]) in inference mode.
    loss: the attack loss itself, `loss(y, outputs, per_sample=False)`, to score outputs already computed.
    logits_and_gradient: `logits_and_gradient(x, y, draw=0)`, the outputs and the input gradient of one forward and
        backward pass (an iterative attack that scores each iterate and steps from it pays one pass, not two).
"""
