"""The directory in the admin: each user's access level, time zone and extensions on the
user's own page; groups with members and supervisors; and the upload of a directory file
(the same all-or-nothing import as `manage.py import_directory`)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.db import IntegrityError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse

from directory.importing import DirectoryFileError, import_directory
from directory.models import Extension, Group, Profile, is_overlap

CHANGED_MEANWHILE = (
    "Nothing was saved: an extension on this page was given to another user at the same "
    "time, while you were saving. Check the extensions and save again."
)

# A directory file of an organisation of thousands is a few hundred kilobytes.
UPLOAD_MAX_BYTES = 20 * 1024 * 1024


class ProfileInline(admin.StackedInline):
    model = Profile
    can_delete = False
    verbose_name_plural = "directory"
    fields = ("access", "time_zone")


class ExtensionInlineFormSet(forms.BaseInlineFormSet):
    def clean(self) -> None:
        super().clean()
        # Two rows of this form owning one number at one instant: the stored check of each
        # row cannot see the other, unsaved one.
        from directory.models import periods_overlap

        rows = [
            f.cleaned_data
            for f in self.forms
            if getattr(f, "cleaned_data", None) and not f.cleaned_data.get("DELETE")
        ]
        for i, a in enumerate(rows):
            for b in rows[:i]:
                if a.get("number") == b.get("number") and periods_overlap(
                    a.get("valid_from"),
                    a.get("valid_until"),
                    b.get("valid_from"),
                    b.get("valid_until"),
                ):
                    raise forms.ValidationError(
                        f"Extension {a.get('number')} is listed twice for the same time."
                    )


class ExtensionInline(admin.TabularInline):
    model = Extension
    formset = ExtensionInlineFormSet
    extra = 1
    fields = ("number", "valid_from", "valid_until")


class DirectoryUserAdmin(UserAdmin):
    """Django's user admin with the directory on the same page: onboarding a staff member
    means a user name, an access level and extensions, not picking permissions."""

    inlines = [ProfileInline, ExtensionInline]
    # mypy cannot tell which model's admin UserAdmin's attribute belongs to (a generic class).
    # The site's words: "User name", as on the login pages, not the model's "username".
    list_display = ("user_name", *UserAdmin.list_display[1:], "access")  # type: ignore[misc]
    list_select_related = ("directory_profile",)

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except IntegrityError as error:
            if not is_overlap(error):
                raise
        # Another administrator or an import gave one of these numbers to someone else
        # between this form's check and its save (the database's constraint, on
        # PostgreSQL; nothing was saved). Checked again, the form names the clash.
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except IntegrityError as error:
            if not is_overlap(error):
                raise
        messages.error(request, CHANGED_MEANWHILE)
        return HttpResponseRedirect(request.get_full_path())

    @admin.display(description="user name", ordering="username")
    def user_name(self, user: Any) -> str:
        return user.get_username()

    @admin.display(description="access")
    def access(self, user: Any) -> str:
        profile = getattr(user, "directory_profile", None)
        return profile.access if profile is not None else "own (default)"


user_model = get_user_model()
if admin.site.is_registered(user_model):
    admin.site.unregister(user_model)
admin.site.register(user_model, DirectoryUserAdmin)


class DirectoryFileForm(forms.Form):
    file = forms.FileField(help_text="The directory as JSON (docs/access.md).")
    prune = forms.BooleanField(
        required=False, help_text="Also deactivate users the file does not name."
    )


@admin.register(Group)
class GroupAdmin(admin.ModelAdmin):
    list_display = ("name",)
    search_fields = ("name",)
    filter_horizontal = ("members", "supervisors")
    change_list_template = "admin/directory/group/change_list.html"

    def get_urls(self) -> list[URLPattern]:
        upload = path(
            "import/",
            self.admin_site.admin_view(self.import_view),
            name="directory_group_import",
        )
        return [upload, *super().get_urls()]

    def import_view(self, request: HttpRequest) -> HttpResponse:
        # Importing rewrites users and their extensions: only for superusers.
        if not request.user.is_superuser:
            return HttpResponseRedirect(reverse("admin:index"))
        form = DirectoryFileForm(request.POST or None, request.FILES or None)
        errors: list[str] = []
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            if upload.size > UPLOAD_MAX_BYTES:
                errors = [f"The file is larger than {UPLOAD_MAX_BYTES // (1024 * 1024)} MB."]
            else:
                try:
                    result = import_directory(upload.read(), prune=form.cleaned_data["prune"])
                except DirectoryFileError as exc:
                    errors = exc.errors
                else:
                    self.message_user(request, f"Directory imported: {result}", messages.SUCCESS)
                    return HttpResponseRedirect(reverse("admin:directory_group_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "title": "Import a directory file",
            "form": form,
            "errors": errors,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/directory/import.html", context)
