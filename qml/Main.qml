// The wbackup window: run controls, one row per node, the failures of the last run, and
// the live log / plan / history below. Every value shown comes from the Backend object.
// It opens with the size, position and view it was closed with (WindowMemory), in the
// system palette (light or dark, see src/gui/palette.rs), with a focus ring that shows
// where the keyboard is.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import org.wbackup

ApplicationWindow {
    id: window
    title: "wbackup"
    // The size it opens with: the one it was closed with, else this.
    width: memory.known ? Math.max(memory.width, minimumWidth) : 1180
    height: memory.known ? Math.max(memory.height, minimumHeight) : 780
    minimumWidth: 760
    minimumHeight: 480

    // The system palette, so that a dark desktop gets a dark window: each colour group
    // of its own (a disabled button must look disabled), set again when it changes.
    SystemPalette { id: system; colorGroup: SystemPalette.Active; onPaletteChanged: window.followSystem() }
    SystemPalette { id: systemInactive; colorGroup: SystemPalette.Inactive }
    SystemPalette { id: systemDisabled; colorGroup: SystemPalette.Disabled }
    function followSystem() {
        const roles = ["window", "windowText", "base", "alternateBase", "text", "button",
                       "buttonText", "highlight", "highlightedText", "placeholderText",
                       "light", "midlight", "mid", "dark", "shadow"]
        const groups = [[window.palette.active, system], [window.palette.inactive, systemInactive],
                        [window.palette.disabled, systemDisabled]]
        for (const [group, source] of groups) {
            for (const role of roles)
                group[role] = source[role]
        }
    }

    // Size, position and view, kept between starts (src/gui/memory.rs).
    property alias memory: memory
    WindowMemory { id: memory }
    // The remembered position, only when enough of the window's top (where it is
    // grabbed) would be on one of today's screens: a screen unplugged since must not
    // leave the window out of sight.
    function shownOnAScreen(x, y, w) {
        const screens = Qt.application.screens
        for (let i = 0; i < screens.length; ++i) {
            const s = screens[i]
            const left = Math.max(x, s.virtualX), right = Math.min(x + w, s.virtualX + s.width)
            if (right - left >= 100 && y >= s.virtualY && y + 40 <= s.virtualY + s.height)
                return true
        }
        return false
    }
    function remember() {
        const view = tabs.currentItem ? tabs.currentItem.key : ""
        if (window.visibility === Window.Maximized)
            memory.saveMaximized(view)
        else
            memory.save(window.x, window.y, window.width, window.height, view)
    }
    Component.onCompleted: {
        followSystem()
        if (memory.positioned && shownOnAScreen(memory.left, memory.top, window.width)) {
            window.x = memory.left
            window.y = memory.top
        }
        for (let i = 0; i < tabs.count; ++i) {
            if (tabs.itemAt(i).key === memory.view)
                tabs.currentIndex = i
        }
        if (memory.maximized)
            window.showMaximized()
        else
            window.show()
    }
    onClosing: remember()
    Connections {
        target: Qt.application
        function onAboutToQuit() { window.remember() }
    }

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
                // `key` names the view in the remembered state.
                TabButton { property string key: "log"; objectName: "tab_log"; text: "Live log"; Accessible.name: "Live log view" }
                TabButton { property string key: "plan"; objectName: "tab_plan"; text: "Plan"; Accessible.name: "Plan view" }
                TabButton { property string key: "history"; objectName: "tab_history"; text: "History"; Accessible.name: "History view" }
                TabButton { property string key: "copies"; id: copiesTab; objectName: "copiesTab"; text: "Copies"; Accessible.name: "Copies view" }
                TabButton { property string key: "restore"; objectName: "tab_restore"; text: "Restore"; Accessible.name: "Restore view" }
                TabButton { property string key: "setup"; objectName: "tab_setup"; text: "Setup"; Accessible.name: "Setup view" }
            }

            StackLayout {
                objectName: "views"
                Layout.fillWidth: true
                Layout.fillHeight: true
                currentIndex: tabs.currentIndex

                LogPane { api: backend }
                PlanPreview { api: backend }
                HistoryList { api: backend }
                CopiesView { copies: window.copies; configFile: window.configFile }
                RestoreView { objectName: "restoreView"; configFile: window.configFile }
                SetupView { objectName: "setupView"; configFile: window.configFile; api: backend }
            }
        }
    }

    property alias focusRing: ring
    FocusRing {
        id: ring
        parent: Overlay.overlay
        host: window
    }
}
