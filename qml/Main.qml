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
        windowActive: window.active
        Component.onCompleted: backend.load(window.configFile)
    }

    // The copies matrix and banner: read on opening and after each run.
    property alias copies: copies
    Copies {
        id: copies
        Component.onCompleted: copies.refresh(window.configFile)
    }
    Connections {
        target: backend
        function onRunningChanged() {
            if (!backend.running)
                copies.refresh(window.configFile)
        }
    }
    function showCopies() {
        for (let i = 0; i < tabs.count; ++i) {
            if (tabs.itemAt(i) === copiesTab)
                tabs.currentIndex = i
        }
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

            ReminderBanner {
                Layout.fillWidth: true
                api: backend
            }

            CopiesBanner {
                Layout.fillWidth: true
                copies: window.copies
                onShowCopies: window.showCopies()
            }

            RunBar {
                Layout.fillWidth: true
                api: backend
            }

            PreflightQuestion {
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
                TabButton { id: copiesTab; objectName: "copiesTab"; text: "Copies" }
                TabButton { text: "Restore" }
            }

            StackLayout {
                Layout.fillWidth: true
                Layout.fillHeight: true
                currentIndex: tabs.currentIndex

                LogPane { api: backend }
                PlanPreview { api: backend }
                HistoryList { api: backend }
                CopiesView { copies: window.copies; configFile: window.configFile }
                RestoreView { objectName: "restoreView"; configFile: window.configFile }
            }
        }
    }
}
