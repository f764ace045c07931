// Drag and drop on the pairs page: drop a name onto another name of the same group to swap the two. It only
// fills the swap form's two choices and submits it, so the page works the same without this script.
(function () {
  "use strict";
  var form = document.getElementById("swap-form");
  var first = document.getElementById("swap-first");
  var second = document.getElementById("swap-second");
  if (!form || !first || !second || !("draggable" in document.createElement("li"))) {
    return;
  }
  var hint = document.querySelector(".dnd-hint");
  if (hint) {
    hint.hidden = false;
  }
  var dragged = null;
  var people = document.querySelectorAll("#pairs .person");
  Array.prototype.forEach.call(people, function (person) {
    person.setAttribute("draggable", "true");
    person.addEventListener("dragstart", function (event) {
      dragged = person;
      person.classList.add("dragging");
      event.dataTransfer.effectAllowed = "move";
      event.dataTransfer.setData("text/plain", person.dataset.registration);
    });
    person.addEventListener("dragend", function () {
      person.classList.remove("dragging");
      dragged = null;
    });
    person.addEventListener("dragover", function (event) {
      if (dragged && dragged !== person && dragged.dataset.group === person.dataset.group) {
        event.preventDefault();
        person.classList.add("drop-target");
      }
    });
    person.addEventListener("dragleave", function () {
      person.classList.remove("drop-target");
    });
    person.addEventListener("drop", function (event) {
      event.preventDefault();
      person.classList.remove("drop-target");
      if (!dragged || dragged === person || dragged.dataset.group !== person.dataset.group) {
        return;
      }
      first.value = dragged.dataset.registration;
      second.value = person.dataset.registration;
      if (typeof form.requestSubmit === "function") {
        form.requestSubmit();
      } else {
        form.submit();
      }
    });
  });
})();
