"""RadioWMHSeg: segment white-matter hyperintensities on FLAIR, correct them, learn from the corrections.

The panel is a thin layer: the work is in RadioWMHSegLib (slicer_logic for MRML nodes, the command
line run in a background process for segmentation and fine-tuning), so it can be scripted headless.
"""

import logging
import shutil
import sys
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

# Installed, the library sits beside this file; in a source checkout it is one folder up.
if not (Path(__file__).parent / "RadioWMHSegLib").is_dir():
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from RadioWMHSegLib import background_job, slicer_logic  # noqa: E402


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
            '<a href="https://github.com/radiowmhseg/RadioWMHSeg/blob/main/docs/slicer.md">Documentation</a>.')
        self.parent.acknowledgementText = "Built on 3D Slicer, PyTorch, MONAI, SimpleITK and the MNI152 2009c template."


@parameterNodeWrapper
class RadioWMHSegParameterNode:
    inputVolume: vtkMRMLScalarVolumeNode
    skullStripped: bool = False
    device: Annotated[str, Choice(["auto", "cpu", "cuda"])] = "auto"
    threshold: Annotated[float, WithinRange(0.01, 0.99)] = slicer_logic.DEFAULT_THRESHOLD
    minLesionMm3: Annotated[float, WithinRange(0.0, 1000.0)] = slicer_logic.DEFAULT_MIN_LESION_MM3
    outputProbability: bool = False
    modelPath: str = ""  # empty: the bundled model
    resultSegmentation: vtkMRMLSegmentationNode
    datasetDir: str = ""
    caseName: str = ""
    annotator: str = ""
    strategy: Annotated[str, Choice(["all", "decoder", "last"])] = "all"
    epochs: Annotated[int, WithinRange(1, 1000)] = 20


class RadioWMHSegWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    def __init__(self, parent=None):
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameterNode = None
        self._guiTag = None
        self._process = None
        self._jobDir = None

    def setup(self):
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/RadioWMHSeg.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = RadioWMHSegLogic()
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, lambda *a: self.setParameterNode(None))
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, lambda *a: self.parent.isEntered and self.initializeParameterNode())
        ui = self.ui
        ui.applyButton.connect("clicked(bool)", self.onApply)
        ui.cancelButton.connect("clicked(bool)", self.onCancel)
        ui.refreshModelsButton.connect("clicked(bool)", self.refreshModels)
        ui.modelComboBox.connect("currentIndexChanged(int)", self.onModelChanged)
        ui.datasetPathLineEdit.connect("currentPathChanged(QString)", self.onDatasetChanged)
        ui.editButton.connect("clicked(bool)", self.onEdit)
        ui.updateStatisticsButton.connect("clicked(bool)", self.onUpdateStatistics)
        ui.exportButton.connect("clicked(bool)", self.onExport)
        ui.openCaseButton.connect("clicked(bool)", self.onOpenCase)
        ui.finetuneButton.connect("clicked(bool)", self.onFinetune)
        self.refreshModels()
        self.initializeParameterNode()

    def cleanup(self):
        self.onCancel()
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
        p, ui, busy = self._parameterNode, self.ui, self._process is not None
        if p is None:
            return
        ui.datasetPathLineEdit.currentPath = p.datasetDir
        index = ui.modelComboBox.findData(p.modelPath)
        ui.modelComboBox.currentIndex = max(index, 0)
        result = p.resultSegmentation
        ui.applyButton.enabled = bool(p.inputVolume) and not busy
        ui.finetuneButton.enabled = bool(p.datasetDir) and not busy
        for button in (ui.editButton, ui.updateStatisticsButton, ui.exportButton):
            button.enabled = bool(result and p.inputVolume) and not busy
        ui.cancelButton.enabled = busy
        stats = self.logic.statistics(result) if result else {}
        ui.statisticsLabel.text = (f"{stats['total_volume_ml']:.2f} mL in {stats['count']} lesions" if stats
                                   else "no result yet")
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

    def onApply(self):
        p = self._parameterNode
        if not self.logic.ensureDependencies():
            return
        with slicer.util.tryWithErrorDisplay("The segmentation could not be started.", waitCursor=True):
            jobDir = Path(tempfile.mkdtemp(prefix="RadioWMHSeg-", dir=slicer.app.temporaryPath))
            arguments, outputs = background_job.segment_job(
                self.logic.writeInput(p.inputVolume, jobDir), jobDir, skull_stripped=p.skullStripped,
                device=p.device, threshold=p.threshold, min_lesion_mm3=p.minLesionMm3, model=p.modelPath or None,
                probability=p.outputProbability)
            volume = p.inputVolume
            self._startJob(arguments, jobDir, lambda: self._showResult(self.logic.loadJobResult(volume, outputs)))

    def onFinetune(self):
        p = self._parameterNode
        if not self.logic.ensureDependencies():
            return
        with slicer.util.tryWithErrorDisplay("The fine-tuning could not be started.", waitCursor=True):
            from RadioWMHSegLib import model_io

            stamp = qt.QDateTime.currentDateTime().toString("yyyyMMdd-hhmmss")
            runDir = model_io.user_models_dir().parent / "runs" / f"finetune-{stamp}"  # checkpoints, for --resume
            arguments = background_job.finetune_job(p.datasetDir, runDir, from_model=p.modelPath or None,
                                                    strategy=p.strategy, epochs=p.epochs, device=p.device)
            jobDir = Path(tempfile.mkdtemp(prefix="RadioWMHSeg-finetune-", dir=slicer.app.temporaryPath))
            self._startJob(arguments, jobDir, self.refreshModels)

    def _startJob(self, arguments, jobDir, onSuccess):
        self._jobDir, self._onSuccess = jobDir, onSuccess
        self.ui.logTextEdit.clear()
        self.ui.progressBar.value = 0
        program, *args = background_job.command_line(arguments, jobDir / "CANCEL")
        self._log(" ".join([program] + args))
        process = qt.QProcess()
        process.setProcessChannelMode(qt.QProcess.MergedChannels)
        environment = qt.QProcessEnvironment.systemEnvironment()
        for key, value in background_job.job_environment().items():
            if key in ("PYTHONPATH", "PYTHONUNBUFFERED"):
                environment.insert(key, value)
        process.setProcessEnvironment(environment)
        process.readyReadStandardOutput.connect(self._onOutput)
        process.finished.connect(self._onFinished)
        self._process = process
        process.start(program, args)
        if not process.waitForStarted(30000):
            self._process = None
            shutil.rmtree(jobDir, ignore_errors=True)
            raise RuntimeError(f"{program} could not be started ({process.errorString()})")
        self.updateGUI()

    def _log(self, text):
        self.ui.logTextEdit.appendPlainText(text)
        logging.info(text)

    def _onOutput(self):
        for line in bytes(self._process.readAllStandardOutput().data()).decode(errors="replace").splitlines():
            progress = background_job.parse_progress(line)
            if progress:
                self.ui.progressBar.value = int(100 * progress[0])
            if line.strip() and "%|" not in line:  # progress-bar redraws would flood the log
                self._log(line)

    def _onFinished(self, *args):
        process, jobDir, onSuccess = self._process, self._jobDir, self._onSuccess
        self._onOutput()
        self._process = None
        code = process.exitCode() if process.exitStatus() == qt.QProcess.NormalExit else background_job.CANCELLED_EXIT_CODE
        try:
            if code == 0:
                with slicer.util.tryWithErrorDisplay("The result could not be loaded.", waitCursor=True):
                    onSuccess()
                    self.ui.progressBar.value = 100
            elif code == background_job.CANCELLED_EXIT_CODE:
                self._log("Stopped: nothing was kept.")
            else:
                errors = [line for line in self.ui.logTextEdit.toPlainText().splitlines() if "error" in line.lower()]
                slicer.util.errorDisplay(errors[-1] if errors else f"The job failed (exit code {code}): see the log.")
        finally:
            shutil.rmtree(jobDir, ignore_errors=True)
            self.updateGUI()

    def onCancel(self):
        if self._process is None:
            return
        background_job.request_cancel(self._jobDir / "CANCEL")
        process = self._process
        qt.QTimer.singleShot(3000, lambda: process.state() != qt.QProcess.NotRunning and process.kill())

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
            self._log(f"Exported case '{case.name}' to {case.label_path.parent.parent}"
                      + (f"; Dice(original prediction, corrected) = {dice:.3f}" if dice is not None else ""))
            slicer.util.infoDisplay(self.ui.logTextEdit.toPlainText().splitlines()[-1])

    def onOpenCase(self):
        path = qt.QFileDialog.getOpenFileName(None, "Open exported case (image in imagesTr)",
                                              self._parameterNode.datasetDir, "Images (*_0000.nii.gz)")
        if path:
            with slicer.util.tryWithErrorDisplay("The case could not be opened.", waitCursor=True):
                volume, segmentation = self.logic.loadDatasetCase(path)
                self._parameterNode.inputVolume = volume
                self._showResult(segmentation)


class RadioWMHSegLogic(ScriptedLoadableModuleLogic, slicer_logic.RadioWMHSegLogic):
    """The headless RadioWMHSegLib.slicer_logic.RadioWMHSegLogic plus what needs the Slicer application."""

    def getParameterNode(self):
        return RadioWMHSegParameterNode(super().getParameterNode())

    def ensureDependencies(self):
        """Install what is missing (after asking): torch through the PyTorch extension, the rest with pip."""
        missing = slicer_logic.missing_python_packages()
        if not missing:
            return True
        if not slicer.util.confirmOkCancelDisplay(
                "RadioWMHSeg needs these Python packages, which will now be downloaded and installed "
                f"(this can take several minutes): {', '.join(missing.values())}."):
            return False
        try:
            if "torch" in missing:
                import PyTorchUtils

                if PyTorchUtils.PyTorchUtilsLogic().installTorch(askConfirmation=False, torchVersionRequirement=">=2.1") is None:
                    raise RuntimeError("PyTorch was not installed")
            rest = [spec for module, spec in missing.items() if module != "torch"]
            if rest:
                slicer.util.pip_install(rest)
        except Exception as exc:  # pip and PyTorchUtils raise many kinds of errors
            slicer.util.errorDisplay(
                f"Installing {', '.join(missing.values())} failed ({exc}). Check the internet connection and retry; "
                "for PyTorch, install the 'PyTorch' extension from the Extensions Manager; then restart Slicer.")
            return False
        return not slicer_logic.missing_python_packages()


class RadioWMHSegTest(ScriptedLoadableModuleTest):
    def runTest(self):
        slicer.mrmlScene.Clear()
        self.test_SegmentSample()

    def test_SegmentSample(self):
        here = Path(__file__).resolve().parent
        samples = sorted((here / "Resources" / "Sample").glob("*flair*.nii.gz")) or sorted(
            (here.parent / "Resources" / "Sample").glob("*flair*.nii.gz"))  # installed, or a source checkout
        self.assertTrue(samples, "the bundled sample FLAIR is missing from Resources/Sample")
        logic = RadioWMHSegLogic()
        volume = slicer.util.loadVolume(str(samples[0]))
        segmentation = logic.segment(volume, device="cpu")
        segmentId = slicer_logic.wmh_segment_id(segmentation)
        self.assertEqual(segmentation.GetSegmentation().GetSegment(segmentId).GetName(), "WMH")
        self.assertGreater(int(slicer.util.arrayFromSegmentBinaryLabelmap(segmentation, segmentId, volume).sum()), 0)
        self.assertEqual(logic.lesionTable(segmentation).GetNumberOfRows(), logic.statistics(segmentation)["count"])
        self.delayDisplay("Test passed")
