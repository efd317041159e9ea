// After a run with failures: its problems, one per cause, each in a plain sentence with
// what to do, followed by the failed steps it concerns (node, step, exit code). Choosing a
// problem, or one of its steps, shows that step's lines in the log.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts

Rectangle {
    id: summary
    property var api
    // Failed steps; the problems group them by cause.
    readonly property int count: api.failures.count
    signal stepChosen()

    function choose(step) {
        summary.api.showStep(step)
        summary.stepChosen()
    }

    visible: count > 0
    implicitHeight: column.implicitHeight + 16
    radius: 4
    Tones { id: tones; window: summary.palette.window }
    color: tones.errLine
    border.color: tones.errorEdge

    ColumnLayout {
        id: column
        anchors.fill: parent
        anchors.margins: 8
        spacing: 6

        Label {
            text: (summary.count === 1 ? "1 step failed" : summary.count + " steps failed")
                  + " — choose a problem to see its log"
            font.bold: true
            color: tones.bad
        }

        ListView {
            id: problemList
            objectName: "problemList"
            Layout.fillWidth: true
            Layout.fillHeight: true
            implicitHeight: contentHeight
            clip: true
            spacing: 4
            model: summary.api.problems
            boundsBehavior: Flickable.StopAtBounds
            ScrollBar.vertical: ScrollBar {}

            delegate: Rectangle {
                id: problem
                objectName: "problem_" + cause
                required property string cause
                required property var nodes
                required property var steps
                required property var stepLabels
                required property string sentence
                required property string todo
                readonly property bool chosen: steps.indexOf(String(summary.api.filterStep)) >= 0
                width: ListView.view.width
                implicitHeight: lines.implicitHeight + 8
                radius: 3
                color: chosen ? tones.errorChosen : (hover.containsMouse ? tones.errorHover : tones.errorRow)
                border.color: tones.errorEdge
                // Tab reaches each problem; Space or Enter shows its first step's log, as a
                // click does.
                function choose() {
                    summary.choose(Number(problem.steps[0]))
                }
                activeFocusOnTab: true
                Keys.onSpacePressed: choose()
                Keys.onReturnPressed: choose()
                Accessible.role: Accessible.ListItem
                Accessible.name: problem.sentence
                Accessible.description: "What to do: " + problem.todo
                Accessible.selected: problem.chosen
                Accessible.onPressAction: choose()

                MouseArea {
                    id: hover
                    anchors.fill: parent
                    hoverEnabled: true
                    cursorShape: Qt.PointingHandCursor
                    onClicked: problem.choose()
                }

                ColumnLayout {
                    id: lines
                    anchors.fill: parent
                    anchors.margins: 4
                    anchors.leftMargin: 8
                    spacing: 2
                    Label {
                        objectName: "problemSentence"
                        Layout.fillWidth: true
                        wrapMode: Text.Wrap
                        textFormat: Text.PlainText
                        font.bold: true
                        text: problem.sentence
                    }
                    Label {
                        objectName: "problemTodo"
                        Layout.fillWidth: true
                        wrapMode: Text.Wrap
                        textFormat: Text.PlainText
                        text: "What to do: " + problem.todo
                    }
                    Repeater {
                        model: problem.stepLabels
                        delegate: Label {
                            id: stepLabel
                            required property int index
                            required property string modelData
                            objectName: "problemStep_" + problem.steps[index]
                            Layout.fillWidth: true
                            elide: Text.ElideRight
                            textFormat: Text.PlainText
                            color: tones.errorText
                            font.underline: stepHover.containsMouse
                            text: "› " + modelData + " — show its log"
                            // Reached with Tab too; Space or Enter shows its log.
                            activeFocusOnTab: true
                            Keys.onSpacePressed: summary.choose(Number(problem.steps[stepLabel.index]))
                            Keys.onReturnPressed: summary.choose(Number(problem.steps[stepLabel.index]))
                            Accessible.role: Accessible.Link
                            Accessible.name: modelData + ": show its log"
                            Accessible.onPressAction: summary.choose(Number(problem.steps[stepLabel.index]))
                            MouseArea {
                                id: stepHover
                                anchors.fill: parent
                                hoverEnabled: true
                                cursorShape: Qt.PointingHandCursor
                                onClicked: summary.choose(Number(problem.steps[stepLabel.index]))
                            }
                        }
                    }
                }
            }
        }
    }
}
