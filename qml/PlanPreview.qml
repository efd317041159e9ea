// The plan a run will execute: every step and its exact commands, as `wbackup plan`
// prints them, before anything runs.
import QtQuick
import QtQuick.Controls

ScrollView {
    id: preview
    property var api
    clip: true

    TextArea {
        objectName: "planText"
        Accessible.name: "The plan: every step and its commands"
        readOnly: true
        selectByMouse: true
        wrapMode: TextEdit.NoWrap
        textFormat: TextEdit.PlainText
        font.family: "monospace"
        font.pixelSize: 12
        text: preview.api.planText
    }
}
