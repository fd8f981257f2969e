"""Learn an augmentation policy while training a model: ``python train.py`` (digits, CPU, a few minutes).

Everything is configurable from the command line or a YAML file (``python train.py fit --print_config``):
``python train.py fit --data.dataset fashion_mnist --model.policy augmeta --trainer.max_epochs 20``.
Artefacts go to ``runs/<name>/``: ``policy/latest.json``, ``meta_network.pt``, ``config.yaml``, logs and plots.
"""

from augmeta.lightning.cli import main

if __name__ == "__main__":
    main()
