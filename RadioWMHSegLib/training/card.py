"""The end of a run: the best weights saved as a new model folder whose card records the data, the recipe
and the validation score.

The card names folders (datasets, run, parent model: its "path" and "run_dir" fields) by their names only: a card travels with its
model to other machines, where the trainer's absolute paths mean nothing.
"""

from collections import Counter
from pathlib import Path

from .. import model_io
from .augmentation import DEFAULT_AUGMENTATION
from .checkpoints import best_weights, write_record


# Why a run that ended before its last epoch still counts as finished (trainer.py; config.patience).
PLATEAU = "validation plateau"


def dataset_summary(role, dataset, cases) -> dict:
    phenotypes = Counter(str(c.metadata.get("phenotype", "unknown")) for c in cases)
    # The names of the cases trained on, so that no one scores a model on a case it saw (validation cases are
    # listed apart, under training.validation_cases).
    return {"role": role, "name": dataset.name, "path": Path(dataset.path).resolve().name, "space": dataset.space,
            "cases": len(cases), "phenotypes": dict(sorted(phenotypes.items())), "case_names": [c.name for c in cases]}


def save_final_model(config, net_config, run_dir, prepared, training, validation, parent, precision, history,
                     best_dice, best_epoch, epochs_done, context, device, seconds, stop_reason) -> Path:
    """Write the model folder (model_io.save_model) and the run's record.json; returns the model folder."""
    final_net = model_io.build_network({"class": "AttentionVNet", "config": net_config})
    final_net.load_state_dict(best_weights(run_dir))
    summaries = []
    for role, dataset, _ in prepared:
        used = [c for r, ds, c in training if ds is dataset and r == role]
        summaries.append(dataset_summary(role, dataset, used))
    augmentation = dict(DEFAULT_AUGMENTATION, **(config.augmentation or {})) if config.augment else None
    recipe = {
        "stage": config.stage, "strategy": config.strategy, "lr": config.lr, "lr_schedule": config.lr_schedule,
        "weight_decay": config.weight_decay, "optimizer": "Adam",
        "loss": ("Dice (WMH and other pathology, batch) + cross-entropy over 3 classes" if config.label2 == "class"
                 else "Dice (WMH, batch) + cross-entropy"),
        "epochs": config.epochs, "steps_per_epoch": config.steps_per_epoch, "batch_size": config.batch_size,
        "patch_size": list(config.patch_size), "lesion_fraction": config.lesion_fraction,
        "target_share": config.target_share,
        "augmentation": augmentation, "label2": config.label2, "seed": config.seed, "precision": precision,
        "dropout": final_net.config["dropout"], "world_size": context.world_size, "device": device.type,
    }
    card = model_io.new_card(
        final_net, config.model_name,
        training={
            "datasets": summaries,
            "validation_cases": [c.name for c in validation],
            "fold": config.fold,
            "recipe": recipe,
            "epochs_done": epochs_done,
            "steps_done": epochs_done * config.steps_per_epoch,
            "patches_seen": epochs_done * config.steps_per_epoch * config.batch_size * context.world_size,
            "seconds_last_session": round(seconds, 1),
            "stopped_early": stop_reason,
            "run_dir": Path(run_dir).resolve().name,
        },
        metrics={"validation_dice": None if best_dice < 0 else best_dice, "best_epoch": best_epoch,
                 "validation_cases": len(validation)},
        parent=parent,
    )
    models_dir = Path(config.models_dir) if config.models_dir is not None else run_dir
    model_dir = model_io.save_model(final_net, card, models_dir, config.model_name)
    # The run's own record keeps the full path: it stays on this machine, beside the checkpoints.
    write_record(run_dir, {"completed": stop_reason in (None, PLATEAU), "model_dir": str(model_dir.resolve()),
                           "epochs_done": epochs_done, "steps_done": epochs_done * config.steps_per_epoch,
                           "best_val_dice": None if best_dice < 0 else best_dice, "best_epoch": best_epoch})
    print(f"model saved to {model_dir}")
    return model_dir
