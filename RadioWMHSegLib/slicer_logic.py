"""RadioWMHSegLogic: a FLAIR volume node in, WMH result nodes out; statistics, export of corrected cases (no Qt).

Everything works on the scene of the nodes it is given (slicer-core has no `slicer.mrmlScene`), so
the same code runs in the Slicer GUI, in `Slicer --no-main-window --python-script` and in plain
Python with the slicer-core wheel. The helpers it builds on live beside it: slicer_geometry (exact
node <-> SimpleITK geometry), slicer_segments (the WMH segment), slicer_nodes (subject hierarchy,
lesion table, node files), slicer_export (a corrected case into a dataset); the public ones are
importable from here too, as the docs show.
"""

import json
from pathlib import Path

import numpy as np
import SimpleITK as sitk
import slicer

from .errors import InputError
from .lesion_stats import mask_volume_ml
from .segment_options import DEFAULT_MIN_LESION_MM3, DEFAULT_THRESHOLD, DEFAULT_TTA, SegmentOptions
from .slicer_export import export_case, flair_case_id
from .slicer_geometry import on_grid_of, on_grid_of_float, same_grid, sitk_to_volume_node, volume_to_sitk
from .slicer_nodes import (place_next_to, read_segmentation_file, read_volume_file, remove_node, set_lesion_table,
                           write_node_file)
from .slicer_segments import (PATHOLOGY_SEGMENT_NAME, WMH_COLOR, WMH_SEGMENT_NAME, WMH_TERMINOLOGY,
                              ensure_segmentation_converters, labelmap_node_to_sitk, pathology_segment_id,
                              segment_to_sitk, set_mask_to_segment, unscored_segment_id, wmh_segment_id)

__all__ = ["RadioWMHSegLogic", "SegmentOptions", "DEFAULT_THRESHOLD", "DEFAULT_MIN_LESION_MM3", "WMH_SEGMENT_NAME",
           "WMH_COLOR", "WMH_TERMINOLOGY", "flair_case_id", "volume_to_sitk", "sitk_to_volume_node", "same_grid",
           "on_grid_of", "on_grid_of_float", "segment_to_sitk", "labelmap_node_to_sitk", "set_mask_to_segment",
           "wmh_segment_id", "ensure_segmentation_converters", "read_volume_file", "read_segmentation_file",
           "write_node_file", "remove_node"]

# Node references and attributes on the result segmentation node: saved with the scene, so an
# export after reloading a scene still finds the model's original prediction and the statistics.
ORIGINAL_PREDICTION_ROLE = "RadioWMHSegOriginalPrediction"
LESION_TABLE_ROLE = "RadioWMHSegLesionTable"
PROBABILITY_ROLE = "RadioWMHSegProbability"
UNCERTAINTY_ROLE = "RadioWMHSegUncertainty"
ATTRIBUTE_PREFIX = "RadioWMHSeg."
CASE_ID_ATTRIBUTE = ATTRIBUTE_PREFIX + "CaseId"  # on a volume loaded from a dataset: its case_id


class RadioWMHSegLogic:
    """Segment a FLAIR volume node, show and measure the result, export corrected cases.

    No Qt and no `slicer.mrmlScene`: each method works in the scene of the nodes it gets.
    """

    def segment(self, volumeNode, skullStripped=False, device="auto", threshold=DEFAULT_THRESHOLD,
                minLesionMm3=DEFAULT_MIN_LESION_MM3, model=None, probabilityVolume=False, tta=DEFAULT_TTA,
                skullStripMethod="auto", progress=None, cancel=None, options=None):
        """Run the library on the volume in this process; returns the new segmentation node.

        options: a SegmentOptions (the panel's, also given to background jobs); without it, one is
        made from the keywords. model: None (bundled), a model folder or a model_io.LoadedModel.
        Statistics: see statistics(); quality warnings: see qualityWarnings().
        """
        from .input_checks import check_contrast, check_segmentable
        from .segment import segment_image

        if options is None:
            options = SegmentOptions(skull_stripped=skullStripped, skull_strip_method=skullStripMethod, device=device,
                                     threshold=threshold, min_lesion_mm3=minLesionMm3, tta=tta, model=model,
                                     probability=probabilityVolume)
        image = volume_to_sitk(volumeNode)
        name = f"'{volumeNode.GetName()}'"
        # The checks of the command line (segment.segment), so the panel refuses and warns alike.
        warnings = check_segmentable(image, name)
        result = segment_image(image, progress=progress, cancel=cancel,
                               uncertainty=options.uncertainty, **options.segment_image_arguments())
        warnings += check_contrast(image, result.brain_mask, name)
        result.record.setdefault("quality", {}).setdefault("warnings", []).extend(warnings)
        parameters = dict(_options_record(options), device=result.record.get("device"),
                          skull_strip=_stage_parameters(result.record, "skull_strip"))
        stats = result.stats.to_dict()
        if result.uncertainty_score:
            stats["uncertainty"] = result.uncertainty_score
        return self.loadResult(volumeNode, result.mask,
                               probability=result.probability if options.probability else None,
                               stats=stats, modelInfo=result.record.get("model"),
                               parameters=parameters, quality=result.record.get("quality"),
                               uncertainty=result.uncertainty, pathology=result.pathology_mask)

    def loadResult(self, volumeNode, mask, probability=None, stats=None, modelInfo=None, parameters=None,
                   keepOriginal=True, quality=None, uncertainty=None, pathology=None):
        """Turn a mask on the volume's grid (and optional probability map) into result nodes.

        Creates the segmentation "<input> WMH" (segment WMH, colour, terminology, closed surface,
        reference geometry = the volume), a hidden labelmap keeping the mask as the model's original
        prediction for later export (keepOriginal), the lesion table, and the probability volume if given.
        quality: segment_image's record["quality"] ({"warnings": [...], ...}), kept for the panel.
        uncertainty: the flip uncertainty map, loaded as a volume; pathology: a 3-class model's other-pathology
        mask, loaded as a second segment beside WMH (exportCase writes it as label 2).
        """
        scene = volumeNode.GetScene()
        ensure_segmentation_converters(scene)
        reference = volume_to_sitk(volumeNode, pixel_type=None)
        mask = on_grid_of(mask, reference)
        base_name = f"{volumeNode.GetName()} WMH"

        segmentation_node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", scene.GenerateUniqueName(base_name))
        segmentation_node.CreateDefaultDisplayNodes()
        segmentation_node.SetReferenceImageGeometryParameterFromVolumeNode(volumeNode)
        segment_id = wmh_segment_id(segmentation_node, create=True)
        set_mask_to_segment(segmentation_node, mask, segment_id)
        if pathology is not None:
            set_mask_to_segment(segmentation_node, on_grid_of(pathology, reference),
                                pathology_segment_id(segmentation_node, create=True))
        segmentation_node.CreateClosedSurfaceRepresentation()
        place_next_to(segmentation_node, volumeNode)

        if keepOriginal:
            self.setOriginalPrediction(segmentation_node, volumeNode, mask)

        for image, role, label in ((probability, PROBABILITY_ROLE, "probability"),
                                   (uncertainty, UNCERTAINTY_ROLE, "uncertainty")):
            if image is not None:
                node = sitk_to_volume_node(on_grid_of_float(image, reference), scene,
                                           f"{segmentation_node.GetName()} {label}")
                node.CreateDefaultDisplayNodes()
                place_next_to(node, volumeNode)
                segmentation_node.SetNodeReferenceID(role, node.GetID())

        segmentation_node.SetAttribute(ATTRIBUTE_PREFIX + "InputVolume", volumeNode.GetID())
        segmentation_node.SetAttribute(ATTRIBUTE_PREFIX + "Model", json.dumps(modelInfo or {}))
        segmentation_node.SetAttribute(ATTRIBUTE_PREFIX + "Parameters", json.dumps(parameters or {}))
        segmentation_node.SetAttribute(ATTRIBUTE_PREFIX + "Quality", json.dumps(quality or {}))
        if stats is None:
            from .lesion_stats import compute_lesion_stats

            stats = compute_lesion_stats(mask).to_dict()
        self._store_statistics(segmentation_node, stats)
        return segmentation_node

    def _store_statistics(self, segmentation_node, stats: dict):
        scene = segmentation_node.GetScene()
        segmentation_node.SetAttribute(ATTRIBUTE_PREFIX + "WMHVolumeMl", f"{stats['total_volume_ml']:.4f}")
        segmentation_node.SetAttribute(ATTRIBUTE_PREFIX + "LesionCount", str(int(stats["count"])))
        segmentation_node.SetAttribute(ATTRIBUTE_PREFIX + "Statistics", json.dumps(stats))
        table = self.lesionTable(segmentation_node)
        if table is None:
            table = scene.AddNewNodeByClass("vtkMRMLTableNode", f"{segmentation_node.GetName()} lesions")
            input_volume = scene.GetNodeByID(segmentation_node.GetAttribute(ATTRIBUTE_PREFIX + "InputVolume") or "")
            if input_volume is not None:
                place_next_to(table, input_volume)
            segmentation_node.SetNodeReferenceID(LESION_TABLE_ROLE, table.GetID())
        set_lesion_table(table, stats)

    def setOriginalPrediction(self, segmentationNode, volumeNode, mask: sitk.Image):
        """Keep mask (on the volume's grid) as the model's output that edits are compared with."""
        scene = segmentationNode.GetScene()
        node = self.originalPrediction(segmentationNode)
        if node is None:
            node = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode",
                                           f"{segmentationNode.GetName()} original prediction")
            node.SetHideFromEditors(True)  # kept for the export's Dice, not for display
            segmentationNode.SetNodeReferenceID(ORIGINAL_PREDICTION_ROLE, node.GetID())
        sitk_to_volume_node(on_grid_of(mask, volume_to_sitk(volumeNode, pixel_type=None)), scene, None,
                            labelmap=True, node=node)
        place_next_to(node, volumeNode)
        return node

    def statistics(self, segmentationNode) -> dict:
        """{"total_volume_ml", "count", "lesions": [...]} stored on a result segmentation node."""
        text = segmentationNode.GetAttribute(ATTRIBUTE_PREFIX + "Statistics")
        return json.loads(text) if text else {}

    def qualityWarnings(self, segmentationNode) -> list:
        """The library's warnings about this result (e.g. an implausible registration), [] when none."""
        text = segmentationNode.GetAttribute(ATTRIBUTE_PREFIX + "Quality")
        warnings = (json.loads(text) if text else {}).get("warnings") or []
        return [str(w) for w in warnings]

    def resultSummary(self, segmentationNode) -> str:
        """'1.23 mL in 4 lesions', then one 'Warning: ...' line per quality warning (for the panel and logs)."""
        stats = self.statistics(segmentationNode)
        if not stats:
            return "no statistics: press Update statistics"
        lines = [f"{stats['total_volume_ml']:.2f} mL in {stats['count']} lesion{'' if stats['count'] == 1 else 's'}"]
        if stats.get("uncertainty"):
            lines.append(f"Uncertain (model unsure): {stats['uncertainty']['uncertain_volume_ml']:.2f} mL")
        pathology_ml = self._pathology_volume_ml(segmentationNode)
        if pathology_ml is not None:
            lines.append(f"{PATHOLOGY_SEGMENT_NAME}: {pathology_ml:.2f} mL (not counted as WMH)")
        return "\n".join(lines + [f"Warning: {w}" for w in self.qualityWarnings(segmentationNode)])

    def _pathology_volume_ml(self, segmentationNode):
        """Volume of the other-pathology segment as it is now (edits included); None without one."""
        segment_id = pathology_segment_id(segmentationNode)
        volume_node = segmentationNode.GetScene().GetNodeByID(
            segmentationNode.GetAttribute(ATTRIBUTE_PREFIX + "InputVolume") or "")
        if not segment_id or volume_node is None:
            return None
        mask = segment_to_sitk(segmentationNode, volume_node, segment_id)
        return mask_volume_ml(mask)

    def updateStatistics(self, segmentationNode, volumeNode, minLesionMm3=0.0) -> dict:
        """Recompute volume, count and lesion table from the segment as it is now (after editing)."""
        from .lesion_stats import compute_lesion_stats

        mask = segment_to_sitk(segmentationNode, volumeNode)
        stats = compute_lesion_stats(mask, min_lesion_mm3=minLesionMm3).to_dict()
        if self.statistics(segmentationNode).get("uncertainty"):  # the model's, unchanged by an edit
            stats["uncertainty"] = self.statistics(segmentationNode)["uncertainty"]
        self._store_statistics(segmentationNode, stats)
        return stats

    def lesionTable(self, segmentationNode):
        return segmentationNode.GetNodeReference(LESION_TABLE_ROLE)

    def probabilityVolume(self, segmentationNode):
        return segmentationNode.GetNodeReference(PROBABILITY_ROLE)

    def uncertaintyVolume(self, segmentationNode):
        return segmentationNode.GetNodeReference(UNCERTAINTY_ROLE)

    def originalPrediction(self, segmentationNode):
        """The hidden labelmap holding the model's mask before any editing (None if not made here)."""
        return segmentationNode.GetNodeReference(ORIGINAL_PREDICTION_ROLE)

    def modelInfo(self, segmentationNode) -> dict:
        text = segmentationNode.GetAttribute(ATTRIBUTE_PREFIX + "Model")
        return json.loads(text) if text else {}

    def correctionDice(self, volumeNode, segmentationNode, originalPrediction=None):
        """Dice between the model's original prediction and the segment as edited (None if no original)."""
        from .metrics import compute_metrics

        original = self._original_as_sitk(volumeNode, segmentationNode, originalPrediction)
        if original is None:
            return None
        return float(compute_metrics(original, segment_to_sitk(segmentationNode, volumeNode))["dsc"])

    def _original_as_sitk(self, volumeNode, segmentationNode, originalPrediction):
        if originalPrediction is None:
            originalPrediction = self.originalPrediction(segmentationNode)
        if originalPrediction is None:
            return None
        if isinstance(originalPrediction, sitk.Image):
            return on_grid_of(originalPrediction, volume_to_sitk(volumeNode, pixel_type=None))
        if originalPrediction.IsA("vtkMRMLSegmentationNode"):
            return segment_to_sitk(originalPrediction, volumeNode)
        return labelmap_node_to_sitk(originalPrediction, volumeNode)

    def exportCase(self, volumeNode, segmentationNode, datasetDir, caseName=None, annotator="",
                   originalPrediction=None):
        """Write FLAIR + corrected label (+ original prediction, metadata) as a new training case.

        Never overwrites: exporting the same case again makes a new version (slicer_export.export_case
        says what is written). Returns the datasets.Case written.
        """
        return export_case(volumeNode, segmentationNode, datasetDir,
                           self._original_as_sitk(volumeNode, segmentationNode, originalPrediction),
                           self.modelInfo(segmentationNode),
                           json.loads(segmentationNode.GetAttribute(ATTRIBUTE_PREFIX + "Parameters") or "{}"),
                           case_name=caseName, annotator=annotator, case_id=volumeNode.GetAttribute(CASE_ID_ATTRIBUTE))

    def availableModels(self) -> list:
        """[(model folder, card)]: the bundled model first, then the user's fine-tuned models."""
        from . import model_io

        return model_io.list_models()

    def writeInput(self, volumeNode, jobDir) -> Path:
        """Write the volume (exact geometry) where a background segmentation job reads it."""
        path = Path(jobDir) / "input.nrrd"
        sitk.WriteImage(volume_to_sitk(volumeNode), str(path), True)
        return path

    def loadJobResult(self, volumeNode, outputs: dict, options=None):
        """Result nodes from the files of a finished background_job.segment_job run with these SegmentOptions."""
        document = json.loads(Path(outputs["stats"]).read_text(encoding="utf-8"))
        stats = {key: document[key] for key in ("total_volume_ml", "count", "min_lesion_mm3", "lesions") if key in document}
        processing = document.get("processing", {})
        probability, uncertainty, pathology = (sitk.ReadImage(str(outputs[k])) if outputs.get(k) else None
                                               for k in ("probability", "uncertainty", "pathology"))
        if document.get("uncertainty"):
            stats["uncertainty"] = document["uncertainty"]
        parameters = _options_record(options) if options is not None else {}
        parameters.update(_stage_parameters(processing, "map_back_and_threshold"))
        parameters.update(device=processing.get("device"), skull_strip=_stage_parameters(processing, "skull_strip"))
        return self.loadResult(volumeNode, sitk.ReadImage(str(outputs["mask"])), probability=probability, stats=stats,
                               modelInfo=processing.get("model"), parameters=parameters,
                               quality=processing.get("quality"), uncertainty=uncertainty, pathology=pathology)

    def loadDatasetCase(self, imagePath, scene=None):
        """Load the exported case whose image (imagesTr/<case>_0000.nii.gz) is given, with its label."""
        from . import datasets

        imagePath = Path(imagePath).resolve()
        dataset = datasets.load_dataset(imagePath.parent.parent, check_geometry=False)
        for case in dataset.cases:
            if Path(case.image_path).resolve() == imagePath:
                volume_node, segmentation_node = self.loadCase(case.image_path, case.label_path, case.prediction_path,
                                                               scene=scene, modelName=case.metadata.get("model"))
                if case.metadata.get("case_id"):  # a re-export stays a version of the same case
                    volume_node.SetAttribute(CASE_ID_ATTRIBUTE, str(case.metadata["case_id"]))
                return volume_node, segmentation_node
        raise InputError(f"{imagePath.name} is not a case of the dataset {dataset.path}: pick an image listed in its dataset.json")

    def loadCase(self, imagePath, labelPath=None, predictionPath=None, scene=None, modelName=None):
        """Load an exported case back for more editing: (volume node, segmentation node or None).

        The original prediction, when given, becomes the hidden reference of the segmentation, so
        exporting again reports the Dice against the model's output and not against the last edit.
        """
        scene = scene if scene is not None else getattr(slicer, "mrmlScene", None)
        if scene is None:
            raise InputError("no MRML scene: pass scene=slicer.vtkMRMLScene() when running outside Slicer")
        volume_node = read_volume_file(imagePath, scene)
        if labelPath is None:
            return volume_node, None
        from .lesion_stats import compute_lesion_stats

        label = read_volume_file(labelPath, scene, labelmap=True)
        values = on_grid_of(volume_to_sitk(label, pixel_type=None), volume_to_sitk(volume_node, pixel_type=None))
        remove_node(label)
        mask = sitk.Cast(values == 1, sitk.sitkUInt8)  # labels 2 and 3 (pathology, unscored): segments of their own
        present = set(np.unique(sitk.GetArrayViewFromImage(values)).tolist())
        pathology = sitk.Cast(values == 2, sitk.sitkUInt8) if 2 in present else None
        segmentation_node = self.loadResult(volume_node, mask, stats=compute_lesion_stats(mask).to_dict(),
                                            modelInfo={"name": modelName, "exported_label": str(labelPath)},
                                            keepOriginal=False, pathology=pathology)
        if 3 in present:  # label 3 comes back as the unscored segment
            set_mask_to_segment(segmentation_node, sitk.Cast(values == 3, sitk.sitkUInt8),
                                unscored_segment_id(segmentation_node, create=True))
        if predictionPath:
            prediction_node = read_volume_file(predictionPath, scene, labelmap=True)
            self.setOriginalPrediction(segmentation_node, volume_node, labelmap_node_to_sitk(prediction_node, volume_node))
            remove_node(prediction_node)
        return volume_node, segmentation_node


def _options_record(options) -> dict:
    record = options.record()
    record.pop("probability", None)
    return record


def _stage_parameters(record: dict, stage_name: str) -> dict:
    """Parameters of one recorded stage of segment_image's record ({} when it did not run)."""
    for stage in record.get("stages", []):
        if stage.get("stage") == stage_name:
            return dict(stage.get("parameters") or {})
    return {}
