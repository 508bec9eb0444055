{#-
  What each property held, and when: one row per period during which a property (an object's
  element) held a value. A period starts at a change that sets the property (add, edit or
  other) and ends (valid_to, exclusive) at whichever comes first: the property's next change,
  or the deletion of its object as a whole (a delete whose element is N/A or empty). After a
  delete, of the property or of its object, the property has no value until a change sets it
  again. The value at instant T is the row with valid_from <= T < valid_to (valid_to null while
  current); no row means no value.
-#}

with changes as (

    select * from {{ ref('int_lp_audittrail__object_changes') }}
    where is_field_change and action <> 'delete'

),

periods as (

    select
        changes.*,
        case
            when next_object_deletion_order is not null
                and (next_property_change_order is null
                    or next_object_deletion_order < next_property_change_order)
                then 'object_deletion'
            when next_property_action = 'delete' then 'property_deletion'
            when next_property_change_order is not null then 'change'
        end as ended_by
    from changes

)

select
    change_id,
    object_id,
    object_type,
    audited_element,
    object_name,
    current_object_name,
    element,
    new_value as value,
    changed_at as valid_from,
    case
        when ended_by = 'object_deletion' then next_object_deletion_at
        else next_property_change_at
    end as valid_to,
    ended_by,
    ended_by is null as is_current,
    property_changes_in_second > 1 or object_deletions_in_second > 0 as is_tied,
    action,
    action_type,
    old_value,
    originator,
    originator_login_name,
    originator_user_id,
    originator_kind
from periods
