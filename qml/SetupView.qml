// The Setup view: the machines (add, change, remove; their folders and excludes) and the
// other settings of the configuration file, edited without TOML. Every change goes to the
// Setup object, which refuses what would not load (shown beside the field, in the
// loader's words) and keeps the rest until Save writes the file through config::edit.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import org.wbackup

ScrollView {
    id: view
    // The configuration file the window opened ("" for the usual lookup).
    property string configFile: ""
    // The window's backend: its configGeneration moves when the file changed on disk.
    property var api
    property alias setup: setup
    // The machine the folder picker adds to ("" when it is closed).
    property string pickerNode: ""
    clip: true
    contentWidth: availableWidth

    Setup {
        id: setup
        Component.onCompleted: setup.open(view.configFile)
    }
    Connections {
        target: view.api
        function onConfigGenerationChanged() { setup.fileChanged() }
    }

    readonly property var nodes: JSON.parse(setup.nodes)
    readonly property var settings: JSON.parse(setup.settings)
    readonly property var tests: setup.tests === "" ? ({}) : JSON.parse(setup.tests)
    readonly property var picker: setup.folders === "" ? null : JSON.parse(setup.folders)
    Tones { id: tones; window: view.palette.window }

    // A refusal shown where it belongs.
    component Refusal: Label {
        property string place
        visible: setup.errorPlace === place && setup.error !== ""
        text: setup.error
        Layout.fillWidth: true
        wrapMode: Text.Wrap
        font.family: "monospace"
        color: tones.errorText
        Accessible.name: "Refused: " + text
    }

    ColumnLayout {
        width: view.availableWidth
        spacing: 12

        // The file and the Save / Discard buttons.
        RowLayout {
            Layout.fillWidth: true
            spacing: 8
            Label {
                objectName: "setupPath"
                Layout.fillWidth: true
                elide: Text.ElideMiddle
                text: (setup.dirty ? "Not saved yet — " : "") + setup.path
                font.bold: setup.dirty
            }
            Button {
                objectName: "setupDiscard"
                text: "Discard"
                enabled: setup.dirty
                Accessible.name: "Discard the changes not saved"
                onClicked: setup.discard()
            }
            Button {
                objectName: "setupSave"
                text: "Save"
                enabled: setup.dirty
                highlighted: setup.dirty
                Accessible.name: "Save the configuration file"
                onClicked: setup.save()
            }
        }
        Label {
            objectName: "setupMessage"
            Layout.fillWidth: true
            visible: text !== ""
            wrapMode: Text.Wrap
            text: setup.message
            color: tones.muted
        }
        Refusal { objectName: "setupFileError"; place: "file" }
        Refusal { objectName: "setupSaveError"; place: "save" }

        Label { text: "Machines"; font.bold: true; font.pixelSize: 16; visible: setup.editable }

        Repeater {
            model: view.nodes
            delegate: NodeCard {}
        }

        // A new machine.
        Frame {
            objectName: "addNodeForm"
            Layout.fillWidth: true
            visible: setup.editable
            GridLayout {
                anchors.left: parent.left
                anchors.right: parent.right
                columns: 4
                columnSpacing: 8
                Label { text: "Add a machine"; font.bold: true; Layout.columnSpan: 4 }
                Label { text: "Name" }
                TextField { id: addName; objectName: "addName"; Layout.fillWidth: true; placeholderText: "home"; Accessible.name: "New machine's name" }
                Label { text: "Addresses" }
                TextField { id: addAddresses; objectName: "addAddresses"; Layout.fillWidth: true; placeholderText: "192.168.1.10, home.example.org (LAN first)"; Accessible.name: "New machine's addresses, in the order they are tried" }
                Label { text: "User" }
                TextField { id: addUser; objectName: "addUser"; Layout.fillWidth: true; placeholderText: "whatever ssh uses"; Accessible.name: "New machine's user" }
                Label { text: "Port" }
                TextField { id: addPort; objectName: "addPort"; Layout.fillWidth: true; placeholderText: "22"; Accessible.name: "New machine's ssh port" }
                Label { text: "Backup folder" }
                TextField { id: addBaseDir; objectName: "addBaseDir"; Layout.fillWidth: true; placeholderText: "the default (~/backup)"; Accessible.name: "New machine's backup folder" }
                Label { text: "Folders to back up" }
                TextField { id: addPaths; objectName: "addPaths"; Layout.fillWidth: true; enabled: !addStorage.checked; placeholderText: "~/, /etc (on that machine)"; Accessible.name: "Folders to back up on the new machine" }
                Switch { id: addStorage; objectName: "addStorage"; text: "Storage only (holds copies, backs up nothing)"; Layout.columnSpan: 3; Accessible.name: "The new machine is storage only" }
                Button {
                    objectName: "addNodeButton"
                    text: "Add machine"
                    Accessible.name: "Add this machine"
                    onClicked: {
                        const form = {name: addName.text, addresses: addAddresses.text, user: addUser.text,
                                      port: addPort.text, baseDir: addBaseDir.text, paths: addPaths.text,
                                      storage: addStorage.checked}
                        if (setup.addNode(JSON.stringify(form))) {
                            for (const f of [addName, addAddresses, addUser, addPort, addBaseDir, addPaths])
                                f.text = ""
                            addStorage.checked = false
                        }
                    }
                }
                Refusal { objectName: "addError"; place: "add"; Layout.columnSpan: 4 }
            }
        }

        Label { text: "Settings"; font.bold: true; font.pixelSize: 16; visible: setup.editable }
        Frame {
            Layout.fillWidth: true
            visible: setup.editable
            GridLayout {
                anchors.left: parent.left
                anchors.right: parent.right
                columns: 2
                columnSpacing: 8
                Repeater {
                    model: view.settings
                    delegate: ColumnLayout {
                        required property var modelData
                        Layout.fillWidth: true
                        spacing: 2
                        RowLayout {
                            Layout.fillWidth: true
                            Label { text: modelData.label; Layout.preferredWidth: 230; elide: Text.ElideRight }
                            TextField {
                                objectName: "setting_" + modelData.key
                                Layout.fillWidth: true
                                text: modelData.value
                                placeholderText: modelData["default"] === "" ? "not set" : "default: " + modelData["default"]
                                Accessible.name: modelData.label
                                onEditingFinished: {
                                    if (text !== modelData.value)
                                        setup.setSetting(modelData.key, text)
                                }
                            }
                        }
                        Refusal { place: "setting:" + modelData.key }
                    }
                }
            }
        }
    }

    // One machine: its fields, folders and excludes.
    component NodeCard: Frame {
        id: card
        required property var modelData
        readonly property var test: view.tests[modelData.name]
        objectName: "node_" + modelData.name
        Layout.fillWidth: true
        ColumnLayout {
            anchors.left: parent.left
            anchors.right: parent.right
            spacing: 6
            RowLayout {
                Label {
                    text: card.modelData.name
                    font.bold: true
                    font.pixelSize: 15
                }
                Label {
                    objectName: "nodeRole"
                    text: card.modelData.orchestrator ? "this machine · runs wbackup (orchestrator)"
                          : card.modelData.storage ? "remote · storage only" : "remote"
                    color: tones.muted
                }
                Item { Layout.fillWidth: true }
                Button {
                    objectName: "nodeRemove"
                    text: "Remove"
                    visible: !card.modelData.orchestrator
                    Accessible.name: "Remove " + card.modelData.name + " from the configuration"
                    onClicked: setup.removeNode(card.modelData.name)
                }
            }
            GridLayout {
                Layout.fillWidth: true
                columns: 4
                columnSpacing: 8
                Label { text: "Addresses"; visible: !card.modelData.orchestrator }
                TextField { id: addresses; objectName: "nodeAddresses"; visible: !card.modelData.orchestrator; Layout.fillWidth: true; text: card.modelData.addresses.join(", "); Accessible.name: card.modelData.name + "'s addresses" }
                Label { text: "User"; visible: !card.modelData.orchestrator }
                TextField { id: user; objectName: "nodeUser"; visible: !card.modelData.orchestrator; Layout.fillWidth: true; text: card.modelData.user; placeholderText: "whatever ssh uses"; Accessible.name: card.modelData.name + "'s user" }
                Label { text: "Port"; visible: !card.modelData.orchestrator }
                TextField { id: port; objectName: "nodePort"; visible: !card.modelData.orchestrator; Layout.fillWidth: true; text: card.modelData.port; placeholderText: "22"; Accessible.name: card.modelData.name + "'s ssh port" }
                Label { text: "Backup folder" }
                TextField { id: baseDir; objectName: "nodeBaseDir"; Layout.fillWidth: true; text: card.modelData.baseDir; placeholderText: card.modelData.effectiveBaseDir; Accessible.name: card.modelData.name + "'s backup folder" }
                Switch { id: storage; objectName: "nodeStorage"; text: "Storage only"; checked: card.modelData.storage; visible: !card.modelData.orchestrator; Accessible.name: card.modelData.name + " is storage only" }
                Button {
                    objectName: "nodeApply"
                    text: "Apply"
                    Accessible.name: "Apply the changes to " + card.modelData.name
                    onClicked: setup.updateNode(card.modelData.name, addresses.text, user.text, port.text,
                                                baseDir.text, storage.checked)
                }
            }
            Label { text: card.modelData.storage ? "Backs up nothing: it holds the other machines' copies." : "Folders to back up" }
            Repeater {
                model: card.modelData.paths
                delegate: RowLayout {
                    required property string modelData
                    Label { objectName: "nodePath"; text: modelData; Layout.fillWidth: true; font.family: "monospace" }
                    Button { text: "Remove"; Accessible.name: "Stop backing up " + modelData; onClicked: setup.changeList(card.modelData.name, "paths", modelData, false) }
                }
            }
            RowLayout {
                Layout.fillWidth: true
                TextField { id: newPath; objectName: "nodeNewPath"; Layout.fillWidth: true; placeholderText: card.modelData.orchestrator ? "~/Pictures (or Choose…)" : "a folder on " + card.modelData.name; Accessible.name: "A folder to back up on " + card.modelData.name }
                Button { objectName: "nodeChoose"; text: "Choose…"; visible: card.modelData.orchestrator; Accessible.name: "Choose a folder on this machine"; onClicked: { view.pickerNode = card.modelData.name; setup.browse("") } }
                Button { objectName: "nodeAddPath"; text: "Add folder"; Accessible.name: "Back up this folder on " + card.modelData.name; onClicked: { if (setup.changeList(card.modelData.name, "paths", newPath.text, true)) newPath.text = "" } }
            }
            Label { text: "Excludes"; visible: !card.modelData.storage }
            Repeater {
                model: card.modelData.exclude
                delegate: RowLayout {
                    required property string modelData
                    Label { objectName: "nodeExclude"; text: modelData; Layout.fillWidth: true; font.family: "monospace" }
                    Button { text: "Remove"; Accessible.name: "Stop excluding " + modelData; onClicked: setup.changeList(card.modelData.name, "exclude", modelData, false) }
                }
            }
            RowLayout {
                Layout.fillWidth: true
                visible: !card.modelData.storage
                TextField { id: newExclude; objectName: "nodeNewExclude"; Layout.fillWidth: true; placeholderText: "**/node_modules, *.iso"; Accessible.name: "A pattern to exclude on " + card.modelData.name }
                Button { objectName: "nodeAddExclude"; text: "Add exclude"; Accessible.name: "Exclude this pattern on " + card.modelData.name; onClicked: { if (setup.changeList(card.modelData.name, "exclude", newExclude.text, true)) newExclude.text = "" } }
            }
            Refusal { objectName: "nodeError"; place: "node:" + card.modelData.name }

            // Test connection: the run's own way in, and what to fix.
            RowLayout {
                Layout.fillWidth: true
                Button {
                    objectName: "nodeTest"
                    text: "Test connection"
                    enabled: !(card.test && card.test.state === "testing")
                    Accessible.name: "Test the connection to " + card.modelData.name
                    onClicked: setup.testConnection(card.modelData.name)
                }
                Label {
                    objectName: "nodeTestState"
                    Layout.fillWidth: true
                    text: !card.test ? "" : card.test.state === "testing" ? "Testing…"
                          : card.test.state === "ok" ? "Everything a run needs is there"
                          : card.test.problems.length + (card.test.problems.length === 1 ? " problem" : " problems")
                    color: !card.test ? tones.muted : card.test.state === "ok" ? tones.good
                           : card.test.state === "testing" ? tones.busy : tones.bad
                    font.bold: true
                }
            }
            Repeater {
                model: card.test ? card.test.lines : []
                delegate: Label {
                    required property string modelData
                    objectName: "testLine"
                    Layout.fillWidth: true
                    text: modelData
                    elide: Text.ElideRight
                    font.family: "monospace"
                    color: tones.muted
                }
            }
            Repeater {
                model: card.test ? card.test.problems : []
                delegate: ColumnLayout {
                    required property var modelData
                    objectName: "testProblem"
                    Layout.fillWidth: true
                    spacing: 2
                    Label {
                        objectName: "testSentence"
                        Layout.fillWidth: true
                        text: modelData.sentence
                        wrapMode: Text.Wrap
                        color: tones.bad
                    }
                    TextEdit {
                        objectName: "testFix"
                        Layout.fillWidth: true
                        text: "What to do: " + modelData.fix
                        readOnly: true
                        selectByMouse: true
                        wrapMode: TextEdit.Wrap
                        color: card.palette.text
                        Accessible.name: text
                    }
                }
            }
        }
    }

    // The folder picker for this machine: one folder's subfolders at a time.
    Popup {
        id: pickerPopup
        objectName: "folderPicker"
        parent: Overlay.overlay
        visible: view.picker !== null && view.pickerNode !== ""
        x: 40; y: 40
        width: Math.min(560, (parent ? parent.width : 600) - 80)
        height: Math.min(520, (parent ? parent.height : 600) - 80)
        modal: true
        onClosed: view.pickerNode = ""
        ColumnLayout {
            anchors.fill: parent
            Label { objectName: "pickerPath"; text: view.picker ? view.picker.path : ""; font.family: "monospace"; Layout.fillWidth: true; elide: Text.ElideMiddle }
            ListView {
                objectName: "pickerList"
                Layout.fillWidth: true
                Layout.fillHeight: true
                clip: true
                model: view.picker ? view.picker.dirs : []
                delegate: ItemDelegate {
                    required property string modelData
                    objectName: "pickerDir_" + modelData
                    width: ListView.view.width
                    text: modelData + "/"
                    Accessible.name: "Open " + modelData
                    onClicked: setup.browse(view.picker.path.replace(/\/$/, "") + "/" + modelData)
                }
            }
            RowLayout {
                Button { objectName: "pickerUp"; text: "Up"; Accessible.name: "The folder above"; enabled: view.picker !== null && view.picker.parent !== ""; onClicked: setup.browse(view.picker.parent) }
                Item { Layout.fillWidth: true }
                Button { text: "Cancel"; Accessible.name: "Close the folder picker"; onClicked: pickerPopup.close() }
                Button {
                    objectName: "pickerChoose"
                    text: "Back up this folder"
                    Accessible.name: "Back up this folder"
                    highlighted: true
                    onClicked: {
                        setup.changeList(view.pickerNode, "paths", setup.configPath(view.picker.path), true)
                        pickerPopup.close()
                    }
                }
            }
        }
    }
}
