// The banner above everything when the window runs on the built-in default (with the
// "Save this configuration" action) or when the configuration file has an error.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts

Rectangle {
    id: note
    property var api
    readonly property bool isError: api.configError !== ""

    visible: api.configNote !== "" || isError
    implicitHeight: row.implicitHeight + 16
    radius: 4
    Tones { id: tones; window: note.palette.window }
    color: isError ? tones.errorFill : tones.noticeFill
    border.color: isError ? tones.errorEdge : tones.noticeEdge

    RowLayout {
        id: row
        anchors.fill: parent
        anchors.margins: 8
        spacing: 12

        Label {
            objectName: "configNote"
            Layout.fillWidth: true
            wrapMode: Text.Wrap
            text: note.isError ? note.api.configError : note.api.configNote
            font.family: note.isError ? "monospace" : Qt.application.font.family
            color: note.isError ? tones.errorText : tones.noticeText
        }
        Button {
            objectName: "saveConfigButton"
            visible: note.api.canSaveConfig
            text: "Save this configuration"
            Accessible.name: "Save this configuration as the configuration file"
            onClicked: note.api.saveConfig()
        }
    }
}
