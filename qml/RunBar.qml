// The password field, "Backup all" and "Stop", and one line saying where the run stands.
// The password goes straight to the backend when the run starts; the field is cleared.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts

RowLayout {
    id: bar
    property var api
    spacing: 8

    // The window opens ready for typing the password.
    Component.onCompleted: password.forceActiveFocus()

    function start() {
        if (!backupAll.enabled)
            return
        bar.api.backupAll(password.text)
        password.clear()
    }

    TextField {
        id: password
        objectName: "passwordField"
        Layout.preferredWidth: 240
        placeholderText: "Restic password"
        echoMode: TextInput.Password
        enabled: !bar.api.running
        onAccepted: bar.start()
    }
    Button {
        id: backupAll
        objectName: "backupAllButton"
        text: "Backup all"
        highlighted: true
        enabled: bar.api.canStart && password.length > 0
        onClicked: bar.start()
    }
    Button {
        objectName: "stopButton"
        text: bar.api.stopping ? "Stopping…" : "Stop"
        enabled: bar.api.running && !bar.api.stopping
        onClicked: bar.api.stop()
    }
    BusyIndicator {
        Layout.preferredHeight: 28
        Layout.preferredWidth: 28
        running: bar.api.running
        visible: running
    }
    Label {
        objectName: "statusText"
        Layout.fillWidth: true
        elide: Text.ElideRight
        text: bar.api.statusText
        font.bold: true
        color: bar.api.failureCount > 0 && !bar.api.running ? "#b52a25" : palette.windowText
    }
}
