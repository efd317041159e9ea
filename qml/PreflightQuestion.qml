// Before anything is written: some nodes failed their checks (unreachable, a tool
// missing, no room for this run). The run waits here; the sentence says why for each,
// and the person goes on without them or cancels the run. Hidden when no run waits.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts

Rectangle {
    id: question
    objectName: "preflightQuestion"
    property var api
    readonly property string text: api ? api.question : ""

    visible: text !== ""
    // The default answer takes the keyboard focus: Space goes on, Tab reaches Cancel.
    onVisibleChanged: if (visible) continueButton.forceActiveFocus()
    implicitHeight: visible ? row.implicitHeight + 16 : 0
    Tones { id: tones; window: question.palette.window }
    color: tones.alertFill
    border.color: tones.alertEdge
    radius: 4

    RowLayout {
        id: row
        anchors.fill: parent
        anchors.margins: 8
        spacing: 10
        Label {
            objectName: "preflightQuestionText"
            Layout.fillWidth: true
            text: question.text
            wrapMode: Text.WordWrap
            color: tones.noticeText
        }
        Button {
            id: continueButton
            objectName: "continueWithout"
            text: "Continue without " + question.api.questionNodes
            highlighted: true
            Accessible.name: text
            onClicked: question.api.continueWithout()
        }
        Button {
            objectName: "cancelRun"
            text: "Cancel"
            Accessible.name: "Cancel the run"
            onClicked: question.api.stop()
        }
    }
}
