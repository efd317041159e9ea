// Drives the real window for the screenshot script: it grabs the window's root item at
// each stage of a synthetic run that gui-screenshots.rs feeds into the backend. The
// pictures are taken at the screen's device pixel ratio (QT_SCALE_FACTOR=2: twice the
// pixels), and named with the optional suffix argument (idle-dark.png).
import QtQuick
import QtQuick.Window
import org.wbackup

Main {
    id: win
    property string outDir: Qt.application.arguments[1]
    property string suffix: Qt.application.arguments.length > 3 ? Qt.application.arguments[3] : ""
    property string stage: "idle"
    readonly property Item shotRoot: win.contentItem.children[0]

    function shoot(name, then) {
        const ratio = Screen.devicePixelRatio
        shotRoot.grabToImage(function (result) {
            result.saveToFile(outDir + "/" + name + suffix + ".png")
            console.log("saved " + name + suffix + ".png")
            then()
        }, Qt.size(shotRoot.width * ratio, shotRoot.height * ratio))
    }

    // Each stage waits until the window has been quiet for a moment, then shoots.
    Timer {
        id: settle
        interval: 600
        onTriggered: {
            if (win.stage === "idle")
                win.shoot("idle", function () { win.stage = "running" })
            else if (win.stage === "running")
                win.shoot("running", function () { win.stage = "finished" })
            else if (win.stage === "finished" && !win.backend.running)
                win.shoot("after-failure", function () {
                    win.stage = "step-log"
                    // The last failed step, as its row in the failure model says.
                    const failures = win.backend.failures
                    const stepRole = 0x0101
                    win.backend.showStep(failures.data(failures.index(failures.count - 1, 0), stepRole))
                    settle.restart()
                })
            else if (win.stage === "step-log")
                win.shoot("failure-log", function () { Qt.quit() })
        }
    }
    Component.onCompleted: settle.start()
    Connections {
        target: win.backend
        function onLogCountsChanged() { settle.restart() }
        function onRunningChanged() { settle.restart() }
    }
    // Never hang the script.
    Timer { interval: 30000; running: true; onTriggered: Qt.exit(3) }
}
