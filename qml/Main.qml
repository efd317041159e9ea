// The wbackup window: run controls, one row per node, the failures of the last run, and
// the live log / plan / history below. Every value shown comes from the Backend object.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import org.wbackup

ApplicationWindow {
    id: window
    title: "wbackup"
    width: 1180
    height: 780
    minimumWidth: 760
    minimumHeight: 480
    visible: true

    property alias backend: backend
    // The configuration file to open ("" for the usual lookup); the program sets it.
    property string configFile: ""

    Backend {
        id: backend
        Component.onCompleted: backend.load(window.configFile)
    }

    Pane {
        id: root
        objectName: "root"
        anchors.fill: parent
        padding: 12

        ColumnLayout {
            anchors.fill: parent
            spacing: 10

            ConfigNote {
                Layout.fillWidth: true
                api: backend
            }

            RunBar {
                Layout.fillWidth: true
                api: backend
            }

            HostList {
                Layout.fillWidth: true
                api: backend
            }

            FailureSummary {
                Layout.fillWidth: true
                Layout.maximumHeight: root.height / 3
                api: backend
                onStepChosen: tabs.currentIndex = 0
            }

            TabBar {
                id: tabs
                Layout.fillWidth: true
                TabButton { text: "Live log" }
                TabButton { text: "Plan" }
                TabButton { text: "History" }
                TabButton { text: "Restore" }
            }

            StackLayout {
                Layout.fillWidth: true
                Layout.fillHeight: true
                currentIndex: tabs.currentIndex

                LogPane { api: backend }
                PlanPreview { api: backend }
                HistoryList { api: backend }
                RestoreView { objectName: "restoreView"; configFile: window.configFile }
            }
        }
    }
}
