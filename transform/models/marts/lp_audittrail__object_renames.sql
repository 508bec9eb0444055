{#-
  Every rename: a change of a name element (var lp_audittrail_name_elements) from the object's
  name or to it. After it, the object's changes come under the new name; object_id is the same
  before and after, and current_object_name is the name the object has now.
-#}

select
    change_id,
    object_id,
    object_type,
    audited_element,
    old_value as old_name,
    new_value as new_name,
    current_object_name,
    changed_at as renamed_at,
    originator,
    originator_login_name,
    originator_kind
from {{ ref('int_lp_audittrail__object_changes') }}
where is_rename
