// Restore, by hand: choose a repository, the copy to restore from (the freshest and
// proven first), a snapshot, optionally files or folders in it, and a target folder;
// the view shows the exact commands `wbackup restore` prints for that choice, with a
// Copy button. It never runs them. Every value comes from the Restore object.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import org.wbackup

Item {
    id: view
    // The configuration file to open ("" for the usual lookup).
    property string configFile: ""
    property alias api: restore

    Restore {
        id: restore
        Component.onCompleted: restore.load(view.configFile)
    }

    Tones { id: tones; window: repoBox.palette.window }
    readonly property color muted: tones.muted
    readonly property color good: tones.good
    readonly property color warn: tones.warn
    readonly property color bad: tones.bad

    RowLayout {
        anchors.fill: parent
        spacing: 10

        // 1. repository and its copies, and the password the listings need.
        ColumnLayout {
            Layout.preferredWidth: 290
            Layout.maximumWidth: 290
            Layout.fillHeight: true
            spacing: 6

            RowLayout {
                Layout.fillWidth: true
                Label { text: "Repository"; font.bold: true }
                ComboBox {
                    id: repoBox
                    objectName: "restoreRepo"
                    Layout.fillWidth: true
                    model: restore.repos
                    textRole: "name"
                    valueRole: "name"
                    currentIndex: -1
                    displayText: currentIndex < 0 ? "Choose…" : currentText
                    Accessible.name: "Repository to restore"
                    onActivated: restore.chooseRepo(currentValue)
                }
            }
            Label { text: "Copies (freshest and proven first)"; color: view.muted }
            Frame {
                Layout.fillWidth: true
                Layout.fillHeight: true
                padding: 1
                ListView {
                    id: copyList
                    objectName: "restoreCopies"
                    anchors.fill: parent
                    clip: true
                    model: restore.copies
                    ScrollBar.vertical: ScrollBar {}
                    delegate: ItemDelegate {
                        id: copyRow
                        required property int index
                        required property string node
                        required property string role
                        required property string status
                        required property int snapshots
                        required property string latest
                        required property int behind
                        required property string proof
                        required property int proven
                        required property string note
                        objectName: "copy_" + node
                        width: ListView.view.width
                        focusPolicy: Qt.StrongFocus
                        Accessible.name: node + "'s copy, " + (status !== "ready" ? status : behind > 0 ? behind + " behind" : "in sync")
                        enabled: status === "ready"
                        highlighted: restore.holder === node
                        onClicked: restore.chooseCopy(node)
                        contentItem: ColumnLayout {
                            spacing: 1
                            RowLayout {
                                Label { text: copyRow.node; font.bold: true }
                                Label {
                                    text: copyRow.role === "owner" ? "(its own node)" : ""
                                    color: copyRow.highlighted ? palette.highlightedText : view.muted
                                }
                                Item { Layout.fillWidth: true }
                                Label {
                                    text: copyRow.status !== "ready" ? copyRow.status
                                          : copyRow.behind > 0 ? copyRow.behind + " behind" : "in sync"
                                    color: copyRow.highlighted ? palette.highlightedText
                                           : copyRow.status !== "ready" || copyRow.behind > 0 ? view.warn : view.good
                                }
                            }
                            Label {
                                Layout.fillWidth: true
                                elide: Text.ElideRight
                                color: copyRow.highlighted ? palette.highlightedText : view.muted
                                visible: copyRow.status === "ready"
                                text: copyRow.snapshots + " snapshot" + (copyRow.snapshots === 1 ? "" : "s")
                                      + ", latest " + copyRow.latest
                            }
                            Label {
                                Layout.fillWidth: true
                                elide: Text.ElideRight
                                color: copyRow.highlighted ? palette.highlightedText
                                       : copyRow.proven ? view.good : view.muted
                                text: copyRow.note !== "" ? copyRow.note : copyRow.proof
                            }
                        }
                    }
                    Label {
                        anchors.centerIn: parent
                        width: parent.width - 20
                        wrapMode: Text.WordWrap
                        horizontalAlignment: Text.AlignHCenter
                        visible: copyList.count === 0
                        text: restore.repo === "" ? "Choose a repository." : "Looking for copies…"
                        color: view.muted
                    }
                }
            }
            RowLayout {
                Layout.fillWidth: true
                visible: !restore.hasPassword
                TextField {
                    id: password
                    objectName: "restorePassword"
                    Layout.fillWidth: true
                    placeholderText: "Restic password (to list snapshots)"
                    Accessible.name: "Restic password, to list snapshots"
                    echoMode: TextInput.Password
                    onAccepted: unlock.clicked()
                }
                Button {
                    id: unlock
                    objectName: "restoreUnlock"
                    text: "List"
                    Accessible.name: "List the snapshots"
                    enabled: password.length > 0
                    onClicked: {
                        restore.setPassword(password.text)
                        password.clear()
                    }
                }
            }
        }

        // 2. the chosen copy's snapshots.
        ColumnLayout {
            Layout.preferredWidth: 330
            Layout.maximumWidth: 330
            Layout.fillHeight: true
            spacing: 6
            Label {
                text: restore.holder === "" ? "Snapshots" : "Snapshots in " + restore.holder + "'s copy"
                font.bold: true
            }
            Frame {
                Layout.fillWidth: true
                Layout.fillHeight: true
                padding: 1
                ListView {
                    id: snapList
                    objectName: "restoreSnapshots"
                    anchors.fill: parent
                    clip: true
                    model: restore.snapshots
                    ScrollBar.vertical: ScrollBar {}
                    delegate: ItemDelegate {
                        id: snap
                        required property string snapshotId
                        required property string shortId
                        required property string time
                        required property string host
                        required property var paths
                        required property string size
                        objectName: "snapshot_" + shortId
                        width: ListView.view.width
                        focusPolicy: Qt.StrongFocus
                        Accessible.name: "Snapshot " + shortId + " of " + time + ", " + host
                        highlighted: restore.snapshot === snapshotId
                        onClicked: restore.chooseSnapshot(snapshotId)
                        contentItem: ColumnLayout {
                            spacing: 1
                            RowLayout {
                                Label { text: snap.time; font.family: "monospace" }
                                Label {
                                    text: snap.shortId
                                    color: snap.highlighted ? palette.highlightedText : view.muted
                                    font.family: "monospace"
                                }
                                Item { Layout.fillWidth: true }
                                Label { text: snap.size }
                            }
                            Label {
                                Layout.fillWidth: true
                                elide: Text.ElideMiddle
                                color: snap.highlighted ? palette.highlightedText : view.muted
                                text: snap.host + ": " + snap.paths.join(", ")
                            }
                        }
                    }
                    Label {
                        anchors.centerIn: parent
                        width: parent.width - 20
                        wrapMode: Text.WordWrap
                        horizontalAlignment: Text.AlignHCenter
                        visible: snapList.count === 0
                        text: restore.holder === "" ? "Choose a copy."
                              : !restore.hasPassword ? "Type the restic password to list them."
                              : "Listing…"
                        color: view.muted
                    }
                }
            }
            Label {
                Layout.fillWidth: true
                wrapMode: Text.WordWrap
                color: view.muted
                text: restore.snapshot === "" ? "No snapshot chosen: the commands restore the latest."
                      : "Pick files or folders to restore only those."
            }
        }

        // 3. the snapshot's files, the target, the commands. A fixed preferred width
        // (it fills the rest): wrapped text inside must not feed back into the layout.
        ColumnLayout {
            Layout.preferredWidth: 200
            Layout.fillWidth: true
            Layout.fillHeight: true
            spacing: 6
            RowLayout {
                Layout.fillWidth: true
                Label { text: "Files"; font.bold: true }
                Label {
                    Layout.preferredWidth: 50
                    Layout.fillWidth: true
                    elide: Text.ElideRight
                    color: view.muted
                    text: restore.pickedCount === 0 ? "everything" : restore.pickedCount + " picked"
                }
                Button {
                    text: "Clear"
                    Accessible.name: "Clear the picked files"
                    visible: restore.pickedCount > 0
                    onClicked: restore.clearPicks()
                }
            }
            Frame {
                Layout.fillWidth: true
                Layout.fillHeight: true
                padding: 1
                ListView {
                    id: tree
                    objectName: "restoreTree"
                    anchors.fill: parent
                    clip: true
                    model: restore.tree
                    ScrollBar.vertical: ScrollBar {}
                    delegate: Rectangle {
                        id: entry
                        required property int index
                        required property string path
                        required property string name
                        required property string kind
                        required property int depth
                        required property int open
                        required property int loading
                        required property int picked
                        required property int within
                        required property string size
                        objectName: "entry_" + path
                        width: ListView.view.width
                        implicitHeight: 28
                        color: index % 2 ? palette.alternateBase : palette.base
                        RowLayout {
                            anchors.fill: parent
                            anchors.leftMargin: 6 + entry.depth * 18
                            anchors.rightMargin: 8
                            spacing: 4
                            ToolButton {
                                objectName: "open_" + entry.path
                                Layout.preferredWidth: 24
                                Layout.preferredHeight: 24
                                visible: entry.kind === "dir"
                                text: entry.loading ? "…" : entry.open ? "▾" : "▸"
                                Accessible.name: (entry.open ? "Close " : "Open ") + entry.name
                                onClicked: restore.toggleFolder(entry.path)
                            }
                            Item { visible: entry.kind !== "dir"; Layout.preferredWidth: 24 }
                            CheckBox {
                                objectName: "pick_" + entry.path
                                Layout.preferredHeight: 24
                                checked: entry.picked || entry.within
                                enabled: !entry.within
                                Accessible.name: "Restore " + entry.name
                                onClicked: restore.togglePick(entry.path)
                            }
                            Label {
                                Layout.fillWidth: true
                                elide: Text.ElideMiddle
                                text: entry.name + (entry.kind === "dir" ? "/" : "")
                                font.bold: entry.picked
                            }
                            Label { text: entry.size; color: view.muted }
                        }
                    }
                    Label {
                        anchors.centerIn: parent
                        width: parent.width - 20
                        wrapMode: Text.WordWrap
                        horizontalAlignment: Text.AlignHCenter
                        visible: tree.count === 0
                        text: restore.snapshot === "" ? "Choose a snapshot to browse its files." : "Listing…"
                        color: view.muted
                    }
                }
            }
            RowLayout {
                Layout.fillWidth: true
                Label { text: "Restore into" }
                TextField {
                    id: target
                    objectName: "restoreTarget"
                    Layout.fillWidth: true
                    placeholderText: "a folder that does not exist yet"
                    Accessible.name: "Restore into this folder"
                    text: restore.target
                    onTextEdited: restore.setTargetFolder(text)
                }
            }
            RowLayout {
                Layout.fillWidth: true
                Layout.fillHeight: false
                Layout.preferredHeight: 150
                Layout.maximumHeight: 150
                ScrollView {
                    Layout.preferredWidth: 100
                    Layout.fillWidth: true
                    Layout.fillHeight: true
                    clip: true
                    TextArea {
                        id: commands
                        objectName: "restoreCommands"
                        Accessible.name: "Commands that restore the choice"
                        readOnly: true
                        selectByMouse: true
                        wrapMode: TextEdit.WrapAnywhere
                        textFormat: TextEdit.PlainText
                        font.family: "monospace"
                        font.pixelSize: 12
                        placeholderText: "Choose a repository and a copy: the commands to restore appear here."
                        text: restore.commands
                    }
                }
                Button {
                    objectName: "restoreCopy"
                    Layout.alignment: Qt.AlignTop
                    text: "Copy"
                    Accessible.name: "Copy the restore commands"
                    enabled: restore.commands !== ""
                    onClicked: {
                        commands.selectAll()
                        commands.copy()
                        commands.deselect()
                    }
                }
            }
            Label {
                objectName: "restoreError"
                Layout.fillWidth: true
                wrapMode: Text.WordWrap
                visible: text !== ""
                color: view.bad
                text: restore.commandsError !== "" ? restore.commandsError : restore.error
            }
            RowLayout {
                visible: restore.loading !== ""
                BusyIndicator { Layout.preferredWidth: 22; Layout.preferredHeight: 22; running: parent.visible }
                Label { objectName: "restoreLoading"; text: restore.loading; color: view.muted }
            }
            Label {
                Layout.fillWidth: true
                wrapMode: Text.WordWrap
                color: view.muted
                font.pixelSize: 11
                text: "wbackup never runs a restore: paste these commands into a terminal on that machine."
            }
        }
    }
}
