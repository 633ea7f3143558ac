"""A QProcess behind slicer_jobs.ProcessProtocol, for the Slicer panel: the one library file that imports Qt.

Everything that decides (arguments, progress, Cancel, errors, result) is in slicer_jobs.JobLogic,
which tests drive with a fake process; this class only moves bytes and the exit status.
"""

import qt


class QtProcess:
    def __init__(self):
        self._process = None

    def start(self, program, arguments, environment, on_output, on_finished):
        process = qt.QProcess()
        process.setProcessChannelMode(qt.QProcess.MergedChannels)
        qt_environment = qt.QProcessEnvironment.systemEnvironment()
        for key, value in environment.items():
            qt_environment.insert(key, value)
        process.setProcessEnvironment(qt_environment)

        def read():
            text = bytes(process.readAllStandardOutput().data()).decode(errors="replace")
            if text:
                on_output(text)

        def finish(*_):
            read()
            self._process = None
            on_finished(process.exitCode(), process.exitStatus() != qt.QProcess.NormalExit)

        process.readyReadStandardOutput.connect(read)
        process.finished.connect(finish)
        self._process = process
        process.start(program, arguments)
        if not process.waitForStarted(30000):
            self._process = None
            raise RuntimeError(f"{program} could not be started ({process.errorString()})")

    def stop(self, grace_seconds):
        process = self._process
        if process is not None:
            qt.QTimer.singleShot(int(grace_seconds * 1000),
                                 lambda: process.state() != qt.QProcess.NotRunning and process.kill())

    def wait(self, timeout_seconds=None):
        process = self._process
        if process is None:
            return True
        return process.waitForFinished(-1 if timeout_seconds is None else int(timeout_seconds * 1000))
