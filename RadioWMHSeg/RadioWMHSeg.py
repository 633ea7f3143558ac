"""RadioWMHSeg: segment white-matter hyperintensities on FLAIR, correct them, learn from the corrections.

Widget wiring only. The work is in RadioWMHSegLib, installed beside this file: slicer_logic (MRML
nodes), slicer_jobs (background jobs, here through a QProcess), slicer_install (the first-use
installer), segment_options (the one object of segmentation choices), slicer_selftest.
"""

import logging
import shutil
import tempfile
from pathlib import Path
from typing import Annotated

import qt
import slicer
import vtk
from slicer import vtkMRMLScalarVolumeNode, vtkMRMLSegmentationNode
from slicer.parameterNodeWrapper import Choice, WithinRange, parameterNodeWrapper
from slicer.ScriptedLoadableModule import (ScriptedLoadableModule, ScriptedLoadableModuleLogic,
                                           ScriptedLoadableModuleTest, ScriptedLoadableModuleWidget)
from slicer.util import VTKObservationMixin

from RadioWMHSegLib import model_io, slicer_install, slicer_jobs, slicer_logic, slicer_ranking, slicer_selftest
from RadioWMHSegLib.choices import DEFAULT_STRATEGY, FINETUNE_DEFAULTS, FROM_SOURCE_WEIGHTS
from RadioWMHSegLib.segment_options import (DEFAULT_MIN_LESION_MM3, DEFAULT_SEGMENT_PRECISION,
                                            DEFAULT_SKULL_STRIP_METHOD, DEFAULT_THRESHOLD, DEFAULT_TTA, DEVICE_CHOICES,
                                            MAX_MIN_LESION_MM3, PRECISIONS, SKULL_STRIP_METHODS, SegmentOptions)
from RadioWMHSegLib.slicer_qprocess import QtProcess


class RadioWMHSeg(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = "RadioWMHSeg"
        self.parent.categories = ["Segmentation"]
        self.parent.dependencies = []
        self.parent.contributors = ["RadioWMHSeg contributors"]
        self.parent.helpText = (
            "Segments white-matter hyperintensities (WMH) on a FLAIR MRI, e.g. after brain radiotherapy, with a "
            "3D attention V-Net. Correct the result in the Segment Editor, export it as a training case, and "
            "fine-tune the model on your own cases. Research use only: not a medical device. "
            "Documentation: docs/slicer.md in the extension's source.")
        self.parent.acknowledgementText = "Built on 3D Slicer, PyTorch, MONAI, SimpleITK and the MNI152 2009c template."


@parameterNodeWrapper
class RadioWMHSegParameterNode:
    inputVolume: vtkMRMLScalarVolumeNode
    skullStripped: bool = False
    skullStripMethod: Annotated[str, Choice(list(SKULL_STRIP_METHODS))] = DEFAULT_SKULL_STRIP_METHOD
    tta: bool = DEFAULT_TTA
    precision: Annotated[str, Choice(list(PRECISIONS))] = DEFAULT_SEGMENT_PRECISION
    device: Annotated[str, Choice(list(DEVICE_CHOICES))] = "auto"
    threshold: Annotated[float, WithinRange(0.01, 0.99)] = DEFAULT_THRESHOLD
    minLesionMm3: Annotated[float, WithinRange(0.0, MAX_MIN_LESION_MM3)] = DEFAULT_MIN_LESION_MM3
    outputProbability: bool = False
    outputUncertainty: bool = False
    modelPath: str = ""  # empty: the bundled model
    resultSegmentation: vtkMRMLSegmentationNode
    datasetDir: str = ""
    caseName: str = ""
    annotator: str = ""
    strategy: Annotated[str, Choice(list(FROM_SOURCE_WEIGHTS))] = DEFAULT_STRATEGY  # fine-tunes the chosen model
    epochs: Annotated[int, WithinRange(1, 1000)] = FINETUNE_DEFAULTS["epochs"]


def segmentOptions(p) -> SegmentOptions:
    """The panel's choices as the one object both the background job and logic.segment take."""
    return SegmentOptions(skull_stripped=p.skullStripped, skull_strip_method=p.skullStripMethod, device=p.device,
                          threshold=p.threshold, min_lesion_mm3=p.minLesionMm3, tta=p.tta, precision=p.precision,
                          model=p.modelPath or None, probability=p.outputProbability, uncertainty=p.outputUncertainty)


class RadioWMHSegWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    def __init__(self, parent=None):
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = self.jobs = self._parameterNode = self._guiTag = None

    def setup(self):
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/RadioWMHSeg.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = RadioWMHSegLogic()
        self.jobs = slicer_jobs.JobLogic(QtProcess(), temporary_dir=slicer.app.temporaryPath, log=self._log,
                                         progress=self._progress, finished=self._onJobEnd)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, lambda *a: self.setParameterNode(None))
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, lambda *a: self.parent.isEntered and self.initializeParameterNode())
        ui = self.ui
        ui.applyButton.connect("clicked(bool)", self.onApply)
        ui.cancelButton.connect("clicked(bool)", self.jobs.cancel)
        ui.refreshModelsButton.connect("clicked(bool)", self.refreshModels)
        ui.modelComboBox.connect("currentIndexChanged(int)", self.onModelChanged)
        ui.datasetPathLineEdit.connect("currentPathChanged(QString)", self.onDatasetChanged)
        ui.editButton.connect("clicked(bool)", self.onEdit)
        ui.updateStatisticsButton.connect("clicked(bool)", self.onUpdateStatistics)
        ui.exportButton.connect("clicked(bool)", self.onExport)
        ui.openCaseButton.connect("clicked(bool)", self.onOpenCase)
        ui.rankButton.connect("clicked(bool)", self.onRank)
        ui.loadNextCaseButton.connect("clicked(bool)", self.onLoadNextCase)
        ui.finetuneButton.connect("clicked(bool)", self.onFinetune)
        self.refreshModels()
        self.initializeParameterNode()

    def cleanup(self):
        if self.jobs:
            self.jobs.cancel()
        self.removeObservers()

    def enter(self):
        self.initializeParameterNode()

    def exit(self):
        self.setParameterNode(None)

    def initializeParameterNode(self):
        self.setParameterNode(self.logic.getParameterNode())
        if not self._parameterNode.inputVolume:
            self._parameterNode.inputVolume = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLScalarVolumeNode")

    def setParameterNode(self, parameterNode):
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._guiTag)
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self.updateGUI)
        self._parameterNode = parameterNode
        if self._parameterNode:
            self._guiTag = self._parameterNode.connectGui(self.ui)  # widgets with a SlicerParameterName
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self.updateGUI)
            self.updateGUI()

    def updateGUI(self, caller=None, event=None):
        p, ui, busy = self._parameterNode, self.ui, self.jobs.busy
        if p is None:
            return
        ui.datasetPathLineEdit.currentPath = p.datasetDir
        ui.modelComboBox.currentIndex = max(ui.modelComboBox.findData(p.modelPath), 0)
        result = p.resultSegmentation
        ui.applyButton.enabled = bool(p.inputVolume) and not busy
        ui.finetuneButton.enabled = bool(p.datasetDir) and not busy
        for button in (ui.editButton, ui.updateStatisticsButton, ui.exportButton):
            button.enabled = bool(result and p.inputVolume) and not busy
        ui.cancelButton.enabled = busy
        ui.statisticsLabel.text = self.logic.resultSummary(result) if result else "no result yet"
        ui.lesionTableView.setMRMLTableNode(self.logic.lesionTable(result) if result else None)

    def refreshModels(self):
        combo = self.ui.modelComboBox
        combo.blockSignals(True)
        combo.clear()
        for path, card in self.logic.availableModels():
            combo.addItem(card.get("name", Path(path).name), str(path))
        combo.blockSignals(False)
        self.updateGUI()

    def onModelChanged(self, index):
        if self._parameterNode and index >= 0:
            self._parameterNode.modelPath = self.ui.modelComboBox.itemData(index) or ""

    def onDatasetChanged(self, path):
        if self._parameterNode:
            self._parameterNode.datasetDir = path

    def _log(self, text):
        self.ui.logTextEdit.appendPlainText(text)
        logging.info(text)

    def _progress(self, fraction, message=""):
        self.ui.progressBar.value = int(100 * fraction)

    def _startJob(self, what, start):
        if not self.logic.ensureDependencies():
            return
        with slicer.util.tryWithErrorDisplay(f"The {what} could not be started.", waitCursor=True):
            self.ui.logTextEdit.clear()
            self.ui.progressBar.value = 0
            start()
        self.updateGUI()

    def onApply(self):
        p = self._parameterNode
        self._startJob("segmentation",
                       lambda: self.jobs.start_segmentation(self.logic, p.inputVolume, segmentOptions(p)))

    def onFinetune(self):
        p = self._parameterNode
        stamp = qt.QDateTime.currentDateTime().toString("yyyyMMdd-hhmmss")
        runDir = model_io.user_models_dir().parent / "runs" / f"finetune-{stamp}"  # checkpoints, for --resume
        self._startJob("fine-tuning", lambda: self.jobs.start_finetune(
            p.datasetDir, runDir, from_model=p.modelPath or None, strategy=p.strategy, epochs=p.epochs,
            device=p.device, on_success=self.refreshModels))

    def _onJobEnd(self, end):
        if end.status == "done" and end.result is not None:
            self._showResult(end.result)
            self._log(self.logic.resultSummary(end.result))  # volume, count and any quality warning
        elif end.status == "failed":
            slicer.util.errorDisplay(end.message)
        elif end.status == "cancelled":
            self._log(end.message)
        self.updateGUI()

    def _showResult(self, segmentationNode):
        p = self.logic.getParameterNode()  # the panel may have been left while the job ran
        p.resultSegmentation = segmentationNode
        slicer.util.setSliceViewerLayers(background=p.inputVolume, fit=True)

    def onEdit(self):
        p = self._parameterNode
        slicer.util.selectModule("SegmentEditor")
        editor = slicer.modules.segmenteditor.widgetRepresentation().self().editor
        editor.setSegmentationNode(p.resultSegmentation)
        (editor.setSourceVolumeNode if hasattr(editor, "setSourceVolumeNode") else editor.setMasterVolumeNode)(p.inputVolume)

    def onUpdateStatistics(self):
        p = self._parameterNode
        with slicer.util.tryWithErrorDisplay("Statistics could not be computed.", waitCursor=True):
            self.logic.updateStatistics(p.resultSegmentation, p.inputVolume, p.minLesionMm3)
            self.updateGUI()

    def onExport(self):
        p = self._parameterNode
        with slicer.util.tryWithErrorDisplay("The case could not be exported.", waitCursor=True):
            case = self.logic.exportCase(p.inputVolume, p.resultSegmentation, p.datasetDir,
                                         caseName=p.caseName or None, annotator=p.annotator)
            dice = case.metadata.get("dice_original_vs_corrected")
            message = (f"Exported case '{case.name}' (version {case.metadata['version']} of {case.metadata['case_id']}) "
                       f"to {case.label_path.parent.parent}"
                       + (f"; Dice(original prediction, corrected) = {dice:.3f}" if dice is not None else ""))
            self._log(message)
            slicer.util.infoDisplay(message)

    def onOpenCase(self):
        path = qt.QFileDialog.getOpenFileName(None, "Open exported case (image in imagesTr)",
                                              self._parameterNode.datasetDir, "Images (*_0000.nii.gz)")
        if path:
            with slicer.util.tryWithErrorDisplay("The case could not be opened.", waitCursor=True):
                volume, segmentation = self.logic.loadDatasetCase(path)
                self._parameterNode.inputVolume = volume
                self._showResult(segmentation)


    def onRank(self):
        self._startJob("ranking", lambda: slicer_ranking.rank_folder(
            self.ui.rankFolderPathLineEdit.currentPath, slicer.mrmlScene, self.jobs,
            segmentOptions(self._parameterNode), self.ui.rankingTableView.setMRMLTableNode))

    def onLoadNextCase(self):
        with slicer.util.tryWithErrorDisplay("The next case could not be loaded.", waitCursor=True):
            opened = slicer_ranking.load_next_case(self.logic, self.ui.rankingTableView.mrmlTableNode(), slicer.mrmlScene)
            self._parameterNode.inputVolume = opened[0]
            self._showResult(opened[1])


class RadioWMHSegLogic(ScriptedLoadableModuleLogic, slicer_logic.RadioWMHSegLogic):
    """The headless RadioWMHSegLib.slicer_logic.RadioWMHSegLogic plus what needs the Slicer application."""

    def getParameterNode(self):
        return RadioWMHSegParameterNode(super().getParameterNode())

    def ensureDependencies(self):
        """Install what is missing, after asking: torch through the PyTorch extension, the rest with pip, torch held."""
        installer = slicer_install.Installer(pip_install=slicer.util.pip_install, log=logging.info)
        missing = installer.missing()
        if not missing:
            return True
        if not slicer.util.confirmOkCancelDisplay(
                "RadioWMHSeg needs these Python packages, which will now be downloaded and installed "
                f"(this can take several minutes): {', '.join(missing)}."):
            return False
        with slicer.util.tryWithErrorDisplay("The Python packages could not be installed.", waitCursor=True):
            installer.install()
            return True
        return False


class RadioWMHSegTest(ScriptedLoadableModuleTest):
    def runTest(self):
        slicer.mrmlScene.Clear()
        self.test_SampleWorkflow()

    def test_SampleWorkflow(self):
        """The bundled sample through the user's path (background job, edit, export), against its true mask."""
        reason = slicer_selftest.skip_reason()
        if reason:
            self.delayDisplay(f"RadioWMHSegTest skipped: {reason}")
            return
        flair, truth = slicer_selftest.sample_paths()
        volume = slicer.util.loadVolume(str(flair))
        jobs = slicer_jobs.JobLogic(QtProcess(), temporary_dir=slicer.app.temporaryPath)
        datasetDir = Path(tempfile.mkdtemp(prefix="RadioWMHSegTest-", dir=slicer.app.temporaryPath))
        try:
            report = slicer_selftest.run_workflow(RadioWMHSegLogic(), jobs, volume, truth, datasetDir / "dataset")
        finally:
            shutil.rmtree(datasetDir, ignore_errors=True)
        self.assertGreaterEqual(report["dice"], slicer_selftest.SAMPLE_DICE_FLOOR,
                                "the bundled model's Dice on the bundled sample is below the floor")
        self.delayDisplay(f"Test passed: Dice {report['dice']:.3f} against the sample's true mask")
