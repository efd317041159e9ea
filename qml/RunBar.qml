// The password field, "Backup all" and "Stop", and one line saying where the run stands.
// While no repository exists yet (the first run creates them with this password), a
// second field asks for it again. The password goes straight to the backend when the
// run starts; the fields are cleared.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts

RowLayout {
    id: bar
    property var api
    spacing: 8
    Tones { id: tones; window: status.palette.window }

    // The window opens ready for typing the password.
    Component.onCompleted: password.forceActiveFocus()

    function start() {
        if (!backupAll.enabled)
            return
        bar.api.backupAll(password.text, repeat.text)
        password.clear()
        repeat.clear()
    }

    TextField {
        id: password
        objectName: "passwordField"
        Layout.preferredWidth: 240
        placeholderText: "Restic password"
        Accessible.name: "Restic password"
        echoMode: TextInput.Password
        enabled: !bar.api.running
        onAccepted: repeat.visible && repeat.text !== password.text ? repeat.forceActiveFocus() : bar.start()
    }
    TextField {
        id: repeat
        objectName: "repeatField"
        Layout.preferredWidth: 240
        visible: bar.api.confirmPassword
        placeholderText: "Repeat it (creates the repositories)"
        Accessible.name: "Repeat the restic password"
        echoMode: TextInput.Password
        enabled: !bar.api.running
        onAccepted: bar.start()
        ToolTip.visible: hovered
        ToolTip.text: "No repository exists yet: this run creates them with this password, and nothing can check it. Type it twice."
    }
    Button {
        id: backupAll
        objectName: "backupAllButton"
        text: "Backup all"
        Accessible.name: "Backup all"
        highlighted: true
        enabled: bar.api.canStart && password.length > 0
                 && (!bar.api.confirmPassword || repeat.text === password.text)
        onClicked: bar.start()
    }
    Button {
        objectName: "stopButton"
        text: bar.api.stopping ? "Stopping…" : "Stop"
        Accessible.name: "Stop the run"
        enabled: bar.api.running && !bar.api.stopping
        onClicked: bar.api.stop()
    }
    BusyIndicator {
        Layout.preferredHeight: 28
        Layout.preferredWidth: 28
        running: bar.api.running
        visible: running
    }
    // The whole run: from this run's progress and the time earlier runs' steps took.
    ProgressBar {
        objectName: "runProgress"
        Accessible.name: "Run progress"
        Layout.preferredWidth: 110
        visible: bar.api.running
        from: 0
        to: 1
        value: bar.api.runProgress
    }
    Label {
        id: status
        objectName: "statusText"
        Layout.fillWidth: true
        elide: Text.ElideRight
        text: bar.api.statusText
        font.bold: true
        color: bar.api.failureCount > 0 && !bar.api.running ? tones.bad : palette.windowText
    }
}
