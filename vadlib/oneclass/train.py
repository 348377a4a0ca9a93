"""The training loop and the checkpoints of the one-class methods: those of :mod:`vadlib.training`,
shared with the weakly supervised models.

:func:`fit` runs ``epochs`` epochs; an epoch is whatever iterable of batches ``epoch_batches(epoch)``
returns (the methods pass shuffled windows, see :class:`vadlib.oneclass.clips.Windows`). A one-class
checkpoint has ``protocol`` :data:`PROTOCOL`, ``pretrained: false`` (no one-class model starts from
pretrained weights), the resolved ``params`` (which rebuild its modules, so ``model_args`` is empty),
one ``history`` per training stage, the state dict of each module under ``state_dicts`` and in
``extra`` any state a scorer needs (e.g. a flow scale).
"""

from vadlib.training import fit, load_checkpoint, save_checkpoint

PROTOCOL = "oneclass"

__all__ = ["PROTOCOL", "fit", "load_checkpoint", "save_checkpoint"]
